import bodyParser from 'koa-bodyparser';
import type { Context, Middleware, Next } from 'koa';
import { AppError } from '../errors.js';

/** Parses a JSON request body up to `limitBytes`; anything but `application/json` is a 415. */
export function jsonBody(limitBytes: number): Middleware {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: `${limitBytes}b`, strict: true }) as Middleware;
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!ctx.is('application/json')) {
      throw new AppError(415, `request body must be JSON sent with Content-Type: application/json (got ${ctx.get('Content-Type') || 'none'})`);
    }
    await parse(ctx, next);
  };
}
