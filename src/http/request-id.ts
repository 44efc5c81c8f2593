import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';

/** What a caller's `X-Request-Id` may look like to be kept: ids, UUIDs and trace ids, nothing that could forge a log line. */
const SANE_ID = /^[\w.:-]{1,128}$/;

/**
 * Gives every request an id: the caller's `X-Request-Id` when sane, else a new UUID. It is echoed
 * in the response header and kept in `ctx.state.requestId` for log lines about the request.
 */
export function requestId(ctx: Context, next: Next): Promise<void> {
  const given = ctx.get('X-Request-Id');
  const id = given !== '' && SANE_ID.test(given) ? given : randomUUID();
  ctx.state.requestId = id;
  ctx.set('X-Request-Id', id);
  // Not async: nothing happens after `next`, so no extra promise per request.
  return next();
}

/** The caller's id when sane, else a new UUID. */
export function pickRequestId(given: string | undefined): string {
  return given !== undefined && given !== '' && SANE_ID.test(given) ? given : randomUUID();
}
