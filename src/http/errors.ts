import type { Context, Next } from 'koa';
import { AppError } from '../errors.js';

interface KoaLikeError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  message?: string;
  headers?: Record<string, string>;
  /** raw-body's name for what went wrong reading a body (under koa-bodyparser and co-body). */
  type?: string;
  limit?: number;
}

/**
 * Whether `err` only says that the client went away (it reset or closed the connection while its
 * answer was being written, as a browser leaving a page with a live stream does): nobody is left to
 * answer and nothing of ours failed.
 */
export function isClientGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * The one place errors become responses: every failure, ours or Koa's, leaves as
 * `{"error": "<clear message>", "code": <status>}`. A 5xx never shows its text; Koa's `error` event
 * (logged by the caller) receives it instead.
 */
export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.body === undefined && ctx.status >= 400) {
      // Nothing matched, or the router found the path but not the method (it already set Allow).
      const message =
        ctx.status === 405
          ? `method ${ctx.method} not allowed for ${ctx.path}; allowed: ${ctx.response.get('Allow')}`
          : `no route for ${ctx.method} ${ctx.path}`;
      respond(ctx, ctx.status, message);
    }
  } catch (caught) {
    const answer = errorResponse(caught);
    if (answer.internal) ctx.app.emit('error', caught, ctx);
    respond(ctx, answer.status, answer.message);
    ctx.set(answer.headers);
  }
}

export interface ErrorResponse {
  readonly status: number;
  readonly message: string;
  readonly headers: Readonly<Record<string, string>>;
  /** A 5xx other than our own 501s, 503s and 507s: to be logged, never shown. */
  readonly internal: boolean;
}

/** What any thrown value answers: status, the message a client may see, and headers to send. */
export function errorResponse(caught: unknown): ErrorResponse {
  const err = (caught ?? {}) as KoaLikeError;
  const status = statusOf(err);
  const ours = err instanceof AppError;
  const headers = ours || (status < 500 && err.headers) ? (err.headers ?? {}) : {};
  if (status >= 500) {
    const shown = (status === 503 || status === 501 || status === 507) && ours;
    return { status, message: shown ? String(err.message) : 'internal server error', headers, internal: !shown };
  }
  return { status, message: messageOf(err, status), headers, internal: false };
}

function statusOf(err: KoaLikeError): number {
  const status = err.status ?? err.statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
}

/**
 * What a 4xx says: our errors and Koa's own carry their message, as do the body parser's, in words of
 * our own (raw-body's 413 and co-body's JSON.parse error); anything else, its status.
 */
function messageOf(err: KoaLikeError, status: number): string {
  if (err.type === 'entity.too.large') return `request body is too large: the limit is ${err.limit} bytes`;
  if (err instanceof SyntaxError && status === 400) return `request body is not valid JSON (${err.message})`;
  return err.expose !== false && err.message ? err.message : `request failed with status ${status}`;
}

function respond(ctx: Context, status: number, message: string): void {
  ctx.status = status;
  ctx.body = { error: message, code: status };
}
