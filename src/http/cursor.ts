import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { ValidationError } from '../errors.js';

/**
 * The one cursor codec of every paginated list. A cursor is base64url of a 12-byte check followed
 * by the list's own payload (a position, or a frozen ranking's keyset: see src/http/analytics.ts).
 * The check is a SHA-256 over the path (so the endpoint, and the campaign of a campaign's list), the
 * query without `cursor` and `limit`, and the payload: a cursor answers only on the list and query
 * that issued it, and an altered one is refused. It is a checksum, not a secret: nothing a client
 * could write into a payload reaches further than the query itself could ask, and every node of a
 * cluster (and a restarted one) reads the same cursors.
 */
const CHECK_BYTES = 12;

/** The longest cursor issued: the check and the longest payload (an ad id of 256 characters, in UTF-8, plus a few numbers). */
export const MAX_CURSOR_LENGTH = 1200;

/** The JSON schema of a `cursor` query parameter. */
export const cursorParam = {
  type: 'string',
  pattern: `^[A-Za-z0-9_-]{1,${MAX_CURSOR_LENGTH}}$`,
  nullable: true,
  description: 'next_cursor of the previous page, with the same query (only `limit` may change)',
} as const;

export function issueCursor(ctx: Context, payload: string): string {
  const body = Buffer.from(payload);
  return Buffer.concat([check(ctx, body), body]).toString('base64url');
}

/** The payload of a cursor this list issued for this query; a ValidationError otherwise. */
export function readCursor(ctx: Context, cursor: string): string {
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.length > CHECK_BYTES && bytes.toString('base64url') === cursor) {
    const body = bytes.subarray(CHECK_BYTES);
    if (check(ctx, body).equals(bytes.subarray(0, CHECK_BYTES))) return body.toString();
  }
  throw badCursor();
}

/** The answer to a cursor that is not one this list issued for this query (or whose payload it cannot read). */
export function badCursor(): ValidationError {
  return new ValidationError('query "cursor" is not a cursor this service issued for this list and query');
}

function check(ctx: Context, payload: Buffer): Buffer {
  const hash = createHash('sha256').update(ctx.path).update('\0');
  for (const key of Object.keys(ctx.query).sort()) {
    if (key !== 'cursor' && key !== 'limit') hash.update(`${key}=${String(ctx.query[key])}\0`);
  }
  return hash.update('\0').update(payload).digest().subarray(0, CHECK_BYTES);
}

/** A cursor naming a position in a list that only grows at its end (`p<n>`). */
export function positionCursor(ctx: Context, position: number): string {
  return issueCursor(ctx, `p${position}`);
}

export function readPosition(ctx: Context, cursor: string): number {
  const m = /^p(\d{1,9})$/.exec(readCursor(ctx, cursor));
  if (m === null) throw badCursor();
  return Number(m[1]);
}
