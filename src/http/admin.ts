import Router from '@koa/router';
import type { Context } from 'koa';
import type { AcceptReport } from '../storage/redis-epoch.js';

/** What the admin routes act on (STORE=redis). */
export interface RedisAdmin {
  acceptReset(): Promise<AcceptReport>;
}

export interface AdminOptions {
  readonly redis: RedisAdmin;
}

/** Operator calls under `/api/v1/admin` (admin scope, see ROUTE_SCOPES). */
export function adminRouter(options: AdminOptions): Router {
  const router = new Router({ prefix: '/api/v1/admin' });
  router.post('/redis/accept-reset', async (ctx: Context) => {
    const report = await options.redis.acceptReset();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = report.accepted
      ? { accepted: true, message: 'the Redis store data loss was accepted: counting resumes into what is left', epoch: report.epoch, repaired_slots: report.repairedSlots }
      : { accepted: false, message: 'nothing to accept: the Redis store has not been found to have lost data', epoch: report.epoch ?? null, repaired_slots: 0 };
  });
  return router;
}
