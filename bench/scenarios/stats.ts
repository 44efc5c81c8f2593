import { httpRequest, runLoad } from '../load.js';
import { answeredCheck, totalsAgree } from '../lib/checks.js';
import { describeRun, measureHttp, type HttpRun } from '../lib/measure.js';
import { createCampaigns, fetchTotals, measureBaselines, startKind } from '../lib/servers.js';
import type { BenchContext, Check, Scenario, Section } from '../lib/types.js';
import { runWorker } from '../lib/worker.js';
import { batchJson, distinctPerCampaign, makeWorkload, mulberry32 } from '../lib/workload.js';
import type { StatsParams, StatsResult } from '../workers/stats.js';

/**
 * Stats latency with many campaigns loaded: in-process asks (worker) and HTTP GETs over one
 * keep-alive connection, one request at a time, so the figure is the service's latency rather than
 * queueing; the HTTP baselines answer a fixed stats JSON.
 */
const FULL = { campaigns: 10_000, impressions: 1_000_000, asks: 20_000, gets: 10_000 };
const QUICK = { campaigns: 1_000, impressions: 100_000, asks: 10_000, gets: 2_000 };
const BATCH = 1000;

export const stats: Scenario = {
  id: 'stats',
  title: 'stats latency',
  async run(ctx) {
    const p = ctx.quick ? QUICK : FULL;
    ctx.log(`stats: in-process at ${p.campaigns.toLocaleString('en-US')} campaigns / ${p.impressions.toLocaleString('en-US')} impressions`);
    const params: StatsParams = { campaigns: p.campaigns, impressions: p.impressions, asks: p.asks };
    const inproc = await runWorker<StatsResult>({ name: 'stats worker', script: 'bench/workers/stats.ts', params, timeoutMs: 300_000 });
    ctx.log(`  ask p50 ${inproc.ours.p50.toFixed(4)} ms, p99 ${inproc.ours.p99.toFixed(4)} ms, max ${inproc.ours.max.toFixed(2)} ms`);
    const http = await overHttp(ctx, p.campaigns, p.impressions, p.gets);
    const vs = (f: (r: HttpRun) => number) => [
      { name: 'Koa', value: f(http.koa) },
      { name: 'bare', value: f(http.bare) },
    ];
    const section: Section = {
      title: `5 stats, ${p.campaigns / 1000}k campaigns, ${p.impressions / 1e6}M imps`,
      figures: [
        { name: 'in-process ask p99', unit: 'ms', value: inproc.ours.p99, target: { op: '<=', value: 1 }, baselines: [{ name: 'Map lookup', value: inproc.map.p99 }] },
        { name: 'in-process ask p50', unit: 'ms', value: inproc.ours.p50, baselines: [{ name: 'Map lookup', value: inproc.map.p50 }] },
        { name: 'HTTP GET p99', unit: 'ms', value: http.ours.p99Ms, target: { op: '<=', value: 1 }, baselines: vs((r) => r.p99Ms) },
        { name: 'HTTP GET p50', unit: 'ms', value: http.ours.p50Ms, baselines: vs((r) => r.p50Ms) },
      ],
      checks: [inproc.check, ...http.checks],
      notes: [
        `one request at a time over one keep-alive connection, random campaigns; in-process ${p.asks.toLocaleString('en-US')} asks, HTTP ${p.gets.toLocaleString('en-US')} GETs`,
      ],
    };
    return [section];
  },
};

async function overHttp(ctx: BenchContext, campaigns: number, impressions: number, gets: number): Promise<{ ours: HttpRun; koa: HttpRun; bare: HttpRun; checks: Check[] }> {
  ctx.log(`stats over HTTP: ${campaigns.toLocaleString('en-US')} campaigns, ${impressions.toLocaleString('en-US')} impressions`);
  const service = await startKind(ctx, 'service');
  try {
    const ids = await createCampaigns(service.port, campaigns, 'stats');
    const w = makeWorkload({ count: impressions, campaignIds: ids, duplicateShare: 0.5, seed: 51, userPrefix: 's' });
    const batches = Array.from({ length: Math.ceil(impressions / BATCH) }, (_, b) =>
      httpRequest('POST', '/api/v1/impressions', batchJson(w, b * BATCH, Math.min(impressions, (b + 1) * BATCH))),
    );
    const loaded = await runLoad({ port: service.port, requests: batches, connections: 8, durationMs: 240_000 });
    if (loaded.ok !== batches.length) throw new Error(`loading impressions: ${loaded.failed} batches failed, first: ${loaded.firstError}`);
    ctx.log(`  loaded in ${(loaded.elapsedMs / 1000).toFixed(1)} s`);
    const totals = await fetchTotals(service.port, ids);
    const checks = [totalsAgree('HTTP: total = distinct users sent', totals, distinctPerCampaign(w, impressions))];

    const random = mulberry32(52);
    const path = (id: string): string => `/api/v1/campaigns/${encodeURIComponent(id)}/stats`;
    const pick = (): string => ids[Math.floor(random() * ids.length)];
    const warm = Array.from({ length: Math.ceil(gets / 5) }, () => httpRequest('GET', path(pick())));
    const requests = Array.from({ length: gets }, () => httpRequest('GET', path(pick())));
    const options = { connections: 1, warm, warmMs: 60_000, requests, durationMs: 60_000 };

    const runs = await measureBaselines(ctx, options);
    const ours = await measureHttp(service, options);
    ctx.log(describeRun('ours', ours));
    checks.push(answeredCheck('ours (stats GETs)', ours.load), answeredCheck('bare', runs.bare.load), answeredCheck('Koa', runs.koa.load));
    return { ours, koa: runs.koa, bare: runs.bare, checks };
  } finally {
    await service.stop();
  }
}
