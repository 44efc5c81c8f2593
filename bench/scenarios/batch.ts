import { httpRequest } from '../load.js';
import { answeredCheck, totalsCheck } from '../lib/checks.js';
import { describeRun, measureHttp, type HttpRun } from '../lib/measure.js';
import { createCampaigns, measureBaselines, startKind } from '../lib/servers.js';
import type { Scenario } from '../lib/types.js';
import { batchJson, makeWorkload, type Workload } from '../lib/workload.js';

/**
 * Batches of 1,000 impressions over HTTP against the service and, with the same bytes, the bare
 * node:http and minimal Koa baselines (which parse, and for Koa validate every item, but count nothing).
 */
const BATCH = 1000;
const CAMPAIGNS = 4;
const CONNECTIONS = 8;
const FULL = { warmBatches: 250, warmMs: 1000, maxBatches: 2500, durationMs: 4000 };
const QUICK = { warmBatches: 100, warmMs: 500, maxBatches: 800, durationMs: 2000 };

function requestsOf(w: Workload): Buffer[] {
  return Array.from({ length: w.users.length / BATCH }, (_, b) =>
    httpRequest('POST', '/api/v1/impressions', batchJson(w, b * BATCH, (b + 1) * BATCH)),
  );
}

export const batch: Scenario = {
  id: 'batch',
  title: 'batches of 1,000 over HTTP',
  async run(ctx) {
    const p = ctx.quick ? QUICK : FULL;
    ctx.log(`batches of ${BATCH} over HTTP at ${CONNECTIONS} connections`);
    const service = await startKind(ctx, 'service', { profile: true });
    try {
      const ids = await createCampaigns(service.port, CAMPAIGNS + 1, 'batch');
      const warm = requestsOf(makeWorkload({ count: p.warmBatches * BATCH, campaignIds: ids.slice(0, 1), duplicateShare: 0.5, seed: 21, userPrefix: 'w' }));
      const work = makeWorkload({ count: p.maxBatches * BATCH, campaignIds: ids.slice(1), duplicateShare: 0.5, seed: 22, userPrefix: 'u' });
      const requests = requestsOf(work);
      const options = { connections: CONNECTIONS, warm, warmMs: p.warmMs, requests, durationMs: p.durationMs };

      const { bare, koa } = await measureBaselines(ctx, options, 'batch');
      const ours = await measureHttp(service, options);
      ctx.log(describeRun('ours', ours, 'batch'));
      if (ctx.profileDir !== undefined) ctx.profileWindows.push(ours.windowUs);

      const vs = (f: (r: HttpRun) => number) => [
        { name: 'Koa', value: f(koa) },
        { name: 'bare', value: f(bare) },
      ];
      return [
        {
          title: `2 batches of ${BATCH.toLocaleString('en-US')}, ${CONNECTIONS} conns`,
          figures: [
            { name: 'impressions per server CPU-s', unit: 'imp/CPU-s', value: ours.perCpuSecond * BATCH, target: { op: '>=', value: 1_000_000 }, baselines: vs((r) => r.perCpuSecond * BATCH) },
            { name: 'impressions per second', unit: 'imp/s', value: ours.perSecond * BATCH, baselines: vs((r) => r.perSecond * BATCH) },
            { name: 'p50 latency per batch', unit: 'ms', value: ours.p50Ms, baselines: vs((r) => r.p50Ms) },
            { name: 'p99 latency per batch', unit: 'ms', value: ours.p99Ms, baselines: vs((r) => r.p99Ms) },
          ],
          checks: [
            await totalsCheck(service.port, work, ours.load.issued * BATCH, ours.load),
            answeredCheck('bare', bare.load),
            answeredCheck('Koa', koa.load),
          ],
          notes: [
            `${(ours.load.ok * BATCH).toLocaleString('en-US')} impressions to ours in ${(ours.load.elapsedMs / 1000).toFixed(1)} s, ~50 % repeat users over ${CAMPAIGNS} campaigns; ` +
              'the baselines parse (bare) or parse and validate every item (Koa) and count nothing; ' +
              "the 1M/s target is judged per server CPU-second (one core's worth), which the load generator and neighbours do not depress",
          ],
        },
      ];
    } finally {
      await service.stop();
    }
  },
};
