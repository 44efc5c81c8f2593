import { httpRequest } from '../load.js';
import { answeredCheck, totalsCheck } from '../lib/checks.js';
import { describeRun, measureHttp, type HttpRun } from '../lib/measure.js';
import { createCampaigns, measureBaselines, startKind } from '../lib/servers.js';
import type { BenchContext, Scenario, Section } from '../lib/types.js';
import { impressionJson, makeWorkload, type Workload } from '../lib/workload.js';

/**
 * Single-impression POSTs over keep-alive connections against the service and, in the same run and
 * with the same request bytes, a bare node:http server and a minimal Koa app. The fair figure is
 * requests per server CPU-second, because the load generator shares the cores.
 */
const CAMPAIGNS = 4;
const FULL = { levels: [64, 256], warmMs: 1500, durationMs: 6000, maxRequests: 250_000, warmRequests: 50_000 };
const QUICK = { levels: [128], warmMs: 750, durationMs: 2500, maxRequests: 100_000, warmRequests: 25_000 };

export const single: Scenario = {
  id: 'single',
  title: 'single-impression POSTs',
  async run(ctx) {
    const p = ctx.quick ? QUICK : FULL;
    const sections: Section[] = [];
    for (const connections of p.levels) sections.push(await atConnections(ctx, connections));
    return sections;
  },
};

function requestsOf(w: Workload): Buffer[] {
  return Array.from({ length: w.users.length }, (_, i) => httpRequest('POST', '/api/v1/impressions', impressionJson(w, i)));
}

async function atConnections(ctx: BenchContext, connections: number): Promise<Section> {
  const p = ctx.quick ? QUICK : FULL;
  ctx.log(`single-impression POSTs at ${connections} connections`);
  const service = await startKind(ctx, 'service', { profile: true });
  try {
    const ids = await createCampaigns(service.port, CAMPAIGNS + 1, 'single');
    // Warm-up traffic goes to its own campaign so that it never enters the correctness check.
    const warm = requestsOf(makeWorkload({ count: p.warmRequests, campaignIds: ids.slice(0, 1), duplicateShare: 0.5, seed: 11, userPrefix: 'w' }));
    const work = makeWorkload({ count: p.maxRequests, campaignIds: ids.slice(1), duplicateShare: 0.5, seed: 12, userPrefix: 'u' });
    const requests = requestsOf(work);
    const options = { connections, warm, warmMs: p.warmMs, requests, durationMs: p.durationMs };

    const { bare, koa } = await measureBaselines(ctx, options);
    const ours = await measureHttp(service, options);
    ctx.log(describeRun('ours', ours));
    if (ctx.profileDir !== undefined) ctx.profileWindows.push(ours.windowUs);

    const vs = (f: (r: HttpRun) => number, targets?: { koa: number; bare: number }) => [
      { name: 'Koa', value: f(koa), ratioTarget: targets && { op: '>=' as const, value: targets.koa } },
      { name: 'bare', value: f(bare), ratioTarget: targets && { op: '>=' as const, value: targets.bare } },
    ];
    return {
      title: `1 single POST, ${connections} conns`,
      figures: [
        { name: 'requests per server CPU-s', unit: 'req/CPU-s', value: ours.perCpuSecond, baselines: vs((r) => r.perCpuSecond, { koa: 0.9, bare: 0.6 }) },
        { name: 'requests per second', unit: 'req/s', value: ours.perSecond, baselines: vs((r) => r.perSecond) },
        { name: 'p50 latency', unit: 'ms', value: ours.p50Ms, baselines: vs((r) => r.p50Ms) },
        { name: 'p99 latency', unit: 'ms', value: ours.p99Ms, baselines: vs((r) => r.p99Ms) },
      ],
      checks: [
        await totalsCheck(service.port, work, ours.load.issued, ours.load),
        answeredCheck('bare', bare.load),
        answeredCheck('Koa', koa.load),
      ],
      notes: [
        `${ours.load.ok.toLocaleString('en-US')} requests to ours in ${(ours.load.elapsedMs / 1000).toFixed(1)} s, ~50 % repeat users over ${CAMPAIGNS} campaigns; ` +
          `server CPU ${ours.serverCpuS.toFixed(2)} s (ours), ${koa.serverCpuS.toFixed(2)} s (Koa), ${bare.serverCpuS.toFixed(2)} s (bare); ` +
          `other processes on the machine used ${ours.otherCpuS.toFixed(1)} / ${koa.otherCpuS.toFixed(1)} / ${bare.otherCpuS.toFixed(1)} CPU-s meanwhile`,
      ],
    };
  } finally {
    await service.stop();
  }
}
