import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { ValidationError } from '../errors.js';

/**
 * Text that is not well-formed Unicode is refused, never repaired. Decoding invalid UTF-8 with
 * U+FFFD made `"u\xff"` and `"u\xfe"` one user; a lone surrogate (`"\ud800"`, legal in JSON) was a
 * string of its own in memory but turned into U+FFFD when the journal encoded it as UTF-8, so two
 * ads became one after a restart. Both are a 400 naming the field.
 */

/** Marks a path that ends at a field name rather than at a value. */
const KEY: unique symbol = Symbol('field name');

/** A field's place in a body: its name, and its item's index in a batch. */
export type FieldPath = readonly (string | number | typeof KEY)[];

/** The UTF-8 text of `bytes`; a ValidationError naming the field when they are not valid UTF-8. */
export function decodeUtf8(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString();
  throw invalidUtf8(bytes.toString(), firstInvalidUtf8(bytes), false);
}

const wellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/** Whether `s` has no lone surrogate. */
export function isWellFormed(s: string): boolean {
  return wellFormed.call(s);
}

/**
 * The first string in `value` (a field name or a string value, `depth` levels down at most) that is
 * not well-formed, as the path to it; undefined when all are.
 */
export function illFormedPath(value: unknown, depth = 8): FieldPath | undefined {
  return find(value, depth, (s) => !wellFormed.call(s));
}

/** A 400 for a lone surrogate at `path` of a body, query or item named `where`. */
export function loneSurrogate(path: FieldPath, where: string): ValidationError {
  return new ValidationError(`${describePath(path, where)} holds a lone surrogate (such as \\ud800); text must be well-formed Unicode`);
}

/** Throws a 400 when a string in `value` holds a lone surrogate. */
export function assertWellFormed(value: unknown, where: string): void {
  const path = illFormedPath(value);
  if (path !== undefined) throw loneSurrogate(path, where);
}

/** `field "user_id"`, `field "user_id" of item 3`, or `a field name in body` (path's last step a key). */
export function describePath(path: FieldPath, where: string): string {
  const item = typeof path[0] === 'number' ? ` of item ${path[0]}` : '';
  if (path[path.length - 1] === KEY) return `a field name${item === '' ? ` in ${where}` : item}`;
  const names = path.filter((p): p is string => typeof p === 'string');
  if (names.length === 0) return item === '' ? where : `item ${String(path[0])}`;
  return `field ${JSON.stringify(names.join('.'))}${item}`;
}


function find(value: unknown, depth: number, bad: (s: string) => boolean): FieldPath | undefined {
  if (typeof value === 'string') return bad(value) ? [] : undefined;
  if (depth === 0 || value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const inner = find(value[i], depth - 1, bad);
      if (inner !== undefined) return [i, ...inner];
    }
    return undefined;
  }
  for (const name of Object.keys(value)) {
    if (bad(name)) return [KEY];
    const inner = find((value as Record<string, unknown>)[name], depth - 1, bad);
    if (inner !== undefined) return [name, ...inner];
  }
  return undefined;
}

/**
 * The error for a body that is not valid UTF-8, named from `text`, the body as a decoder that puts
 * U+FFFD in place of invalid bytes read it (with its byte-order mark stripped when `bomStripped`),
 * and `at`, the offset of the first invalid byte: the U+FFFD standing for that byte is swapped for a
 * one-off marker, the text parsed, and the marker looked for. Runs only for invalid bodies.
 */
export function invalidUtf8(text: string, at: number, bomStripped: boolean): ValidationError {
  const i = charIndexOf(text, bomStripped ? at - 3 : at);
  const marker = `\ufdd0${randomBytes(8).toString('hex')}\ufdd0`;
  let path: FieldPath | undefined;
  try {
    path = find(JSON.parse(text.slice(0, i) + marker + text.slice(i + 1)), 64, (s) => s.includes(marker));
  } catch {
    // Not JSON either way: the byte is outside any string.
  }
  if (path === undefined) return new ValidationError(`request body is not valid UTF-8 (invalid byte at offset ${at})`);
  return new ValidationError(`${describePath(path, 'body')} is not valid UTF-8 (invalid byte at offset ${at} of the body)`);
}

/** The index in `text` of the character that begins at UTF-8 byte `offset` (all bytes before it valid). */
function charIndexOf(text: string, offset: number): number {
  let bytes = 0;
  let i = 0;
  while (bytes < offset && i < text.length) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : 3;
    i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
  }
  return i;
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence, or −1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  return scanUtf8(b).at;
}

/**
 * Checks UTF-8 as a body streams in, chunk by chunk: `invalidAt` is the offset of the first invalid
 * byte of the whole body (−1 while none), a sequence split across two chunks being valid.
 */
export class Utf8Stream {
  /** Offset of the first invalid byte seen, or −1. */
  invalidAt = -1;
  /** Whether the body began with a UTF-8 byte-order mark. */
  bom = false;
  private offset = 0;
  private carry: Buffer | undefined;

  push(chunk: Buffer): void {
    if (this.invalidAt >= 0) return;
    let bytes = chunk;
    let start = this.offset;
    if (this.carry !== undefined) {
      bytes = Buffer.concat([this.carry, chunk]);
      start -= this.carry.length;
      this.carry = undefined;
    }
    if (start === 0 && bytes.length >= 3) this.bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    this.offset = start + bytes.length;
    if (isUtf8(bytes)) return;
    const { at, cut } = scanUtf8(bytes);
    if (cut) this.carry = bytes.subarray(at);
    else this.invalidAt = start + at;
  }

  /** The offset of the first invalid byte of the whole body (a sequence cut short by its end included), or −1. */
  end(): number {
    if (this.carry !== undefined && this.invalidAt < 0) this.invalidAt = this.offset - this.carry.length;
    this.carry = undefined;
    return this.invalidAt;
  }
}

/** The first byte not in a well-formed sequence (−1 if none); `cut` when it begins one the end cut short. */
function scanUtf8(b: Uint8Array): { at: number; cut: boolean } {
  const n = b.length;
  for (let i = 0; i < n; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f; // UTF-8 of a surrogate
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return { at: i, cut: false };
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return { at: i, cut: true };
      const d = b[i + k];
      if (d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return { at: i, cut: false };
    }
    i += need + 1;
  }
  return { at: -1, cut: false };
}
