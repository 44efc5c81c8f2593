import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { isLoopback } from '../config.js';
import { AppError } from '../errors.js';
import type { AcceptReport } from '../storage/redis-epoch.js';

/** What the admin routes act on (STORE=redis). */
export interface RedisAdmin {
  acceptReset(): Promise<AcceptReport>;
}

/** Operator calls under `/api/v1/admin`; who may make them is the route table's `operator` scope. */
export function adminHandlers(redis: RedisAdmin) {
  const acceptReset = async (ctx: Context): Promise<void> => {
    const report = await redis.acceptReset();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = report.accepted
      ? { accepted: true, message: 'the Redis store data loss was accepted: counting resumes into what is left', epoch: report.epoch, repaired_slots: report.repairedSlots }
      : { accepted: false, message: 'nothing to accept: the Redis store has not been found to have lost data', epoch: report.epoch ?? null, repaired_slots: 0 };
  };
  return { acceptReset };
}

/**
 * Lets a request through from loopback, or from elsewhere with the inspector token when one is set:
 * until the service has API keys, operator calls are protected like the inspector.
 */
export function operatorOnly(token: string): Middleware {
  const want = token === '' ? undefined : digest(token);
  return async (ctx: Context, next: Next): Promise<void> => {
    const bearer = /^Bearer +(\S+)$/i.exec(ctx.get('Authorization'))?.[1];
    if (want !== undefined && bearer !== undefined) {
      // Comparing digests keeps the comparison constant-time whatever the lengths.
      if (!timingSafeEqual(digest(bearer), want)) throw new AppError(401, 'the token is not valid', { 'WWW-Authenticate': 'Bearer realm="admin"' });
      return next();
    }
    if (isLoopback(ctx.req.socket.remoteAddress ?? '')) return next();
    throw new AppError(
      403,
      want === undefined
        ? 'admin calls are accepted from loopback only (set INSPECTOR_TOKEN to allow them from elsewhere with Authorization: Bearer <token>)'
        : 'admin calls from beyond loopback need Authorization: Bearer <INSPECTOR_TOKEN>',
    );
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
