import type { IncomingMessage } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import { AppError, PayloadTooLargeError, ValidationError } from '../errors.js';
import { UNBOUNDED, type BodyBudget } from './body-budget.js';
import { decodeUtf8 } from './unicode.js';

declare module 'koa' {
  interface Request {
    /** The parsed JSON body, set by `jsonBody`. */
    body?: unknown;
  }
}

/**
 * Reads and parses a JSON request body of at most `limitBytes`; anything but `application/json`
 * is a 415. A lean replacement for koa-bodyparser on the hot path (which goes through co-body,
 * raw-body and iconv for every request): one listener, one Buffer, one JSON.parse.
 */
export function jsonBody(limitBytes: number, budget: BodyBudget = UNBOUNDED): Middleware {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!ctx.is('application/json')) {
      throw new AppError(415, `request body must be JSON sent with Content-Type: application/json (got ${ctx.get('Content-Type') || 'none'})`);
    }
    const encoding = ctx.get('Content-Encoding');
    if (encoding !== '' && encoding.toLowerCase() !== 'identity') {
      throw new AppError(415, `unsupported Content-Encoding ${JSON.stringify(encoding)}; send the body uncompressed`);
    }
    ctx.request.body = await readJson(ctx.req, limitBytes, budget);
    await next();
  };
}

/**
 * Reads and parses the JSON body of `req` (its type already checked): 413 past the limit, 503 when
 * the bodies buffered across requests would exceed `budget`, 400 if malformed or not UTF-8.
 */
export async function readJson(req: IncomingMessage, limitBytes: number, budget: BodyBudget = UNBOUNDED): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  const body = await readBody(req, limitBytes, budget, declared);
  try {
    const text = decodeUtf8(body.bytes);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ValidationError(`request body is not valid JSON (${(err as Error).message})`);
    }
  } finally {
    budget.release(body.held);
  }
}

function tooLarge(limitBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`request body is too large: the limit is ${limitBytes} bytes`);
}

/** The 503 of a body the budget cannot hold; the connection is closed so its sender stops sending. */
function overBudget(budget: BodyBudget): AppError {
  return new AppError(503, `the server is buffering as many request bodies as it may (BODY_BUFFER_BUDGET, ${budget.limitBytes} bytes); retry shortly`, {
    'Retry-After': '1',
    Connection: 'close',
  });
}

/** The body's bytes, and the bytes it reserved in the budget (the caller releases them). */
function readBody(req: IncomingMessage, limitBytes: number, budget: BodyBudget, declared: number): Promise<{ bytes: Buffer; held: number }> {
  return new Promise((resolve, reject) => {
    let first: Buffer | undefined;
    let rest: Buffer[] | undefined;
    let size = 0;
    let held = 0;
    const fail = (err: Error): void => {
      cleanup();
      budget.release(held);
      req.resume(); // discard the rest so the error can still be answered
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) return fail(tooLarge(limitBytes));
      if (size > held) {
        if (!budget.grow(held, size)) return fail(overBudget(budget));
        held = size;
      }
      if (first === undefined) first = chunk;
      else (rest ??= [first]).push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ bytes: rest ? Buffer.concat(rest, size) : (first ?? EMPTY), held });
    };
    // Also how a connection closed mid-body (by the client, or by REQUEST_TIMEOUT) ends: 'aborted'.
    const onError = (err: Error): void => fail(Object.assign(new AppError(400, 'request aborted while reading its body'), { cause: err }));
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    // A declared length is reserved whole before a byte is read: what cannot fit is refused at once.
    if (declared > 0) {
      if (!budget.grow(0, declared)) fail(overBudget(budget));
      else held = declared;
    }
  });
}

const EMPTY = Buffer.alloc(0);
