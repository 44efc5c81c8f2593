import { performance } from 'node:perf_hooks';
import type { Impression, Stats } from '../../actors/protocol.js';
import { totalsAgree } from '../lib/checks.js';
import { percentiles } from '../lib/percentiles.js';
import { createInProcessCampaigns, ingest, startInProcess } from '../lib/system.js';
import type { Check } from '../lib/types.js';
import { distinctPerCampaign, impressionItem, makeWorkload, mulberry32 } from '../lib/workload.js';
import { workerMain } from '../lib/worker.js';

/**
 * In-process stats latency: `counter.campaigns.stats(id)` (an ask through the registry to the campaign actor)
 * timed one at a time over random campaigns, after loading the impressions; beside an async lookup
 * of a stats object in a plain Map.
 */
export interface StatsParams {
  readonly campaigns: number;
  readonly impressions: number;
  readonly asks: number;
}

export interface StatsResult {
  readonly ours: { p50: number; p99: number; max: number };
  readonly map: { p50: number; p99: number; max: number };
  readonly check: Check;
}

workerMain<StatsParams, StatsResult>(async (p) => {
  const { system, counter } = startInProcess();
  const ids = await createInProcessCampaigns(counter, p.campaigns);
  const w = makeWorkload({ count: p.impressions, campaignIds: ids, duplicateShare: 0.5, seed: 41, userPrefix: 's' });
  const batches: Impression[][] = [];
  for (let i = 0; i < p.impressions; i += 1000) {
    batches.push(Array.from({ length: Math.min(1000, p.impressions - i) }, (_, k) => impressionItem(w, i + k)));
  }
  await ingest(counter, batches);
  const totals: number[] = [];
  for (const id of ids) totals.push((await counter.campaigns.stats(id)).total);
  const check = totalsAgree('in-process: total = distinct users sent', totals, distinctPerCampaign(w, p.impressions));

  const random = mulberry32(42);
  const order = Array.from({ length: p.asks }, () => ids[Math.floor(random() * ids.length)]);
  const ours = await time(order, (id) => counter.campaigns.stats(id));
  system.stop();

  const table = new Map<string, Stats>(ids.map((id, i) => [id, { lastHour: totals[i], lastDay: totals[i], total: totals[i] }]));
  const map = await time(order, async (id) => ({ ...(table.get(id) as Stats) }));
  return { ours, map, check };
});

/** Latency of each call, one at a time, after an unmeasured warm-up pass over the first tenth. */
async function time(order: readonly string[], call: (id: string) => Promise<unknown>): Promise<{ p50: number; p99: number; max: number }> {
  for (const id of order.slice(0, Math.ceil(order.length / 10))) await call(id);
  const latencies = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) {
    const t0 = performance.now();
    await call(order[i]);
    latencies[i] = performance.now() - t0;
  }
  const [p50, p99, max] = percentiles(latencies, [50, 99, 100]);
  return { p50, p99, max };
}
