import type { Context } from 'koa';
import type { AcceptReport } from '../storage/redis-epoch.js';

/** What the admin routes act on (STORE=redis). */
export interface RedisAdmin {
  acceptReset(): Promise<AcceptReport>;
}

/** Operator calls under `/api/v1/admin`; who may make them is the route table's scope (admin). */
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
