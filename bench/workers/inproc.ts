import { performance } from 'node:perf_hooks';
import type { Impression } from '../../actors/protocol.js';
import { totalsAgree } from '../lib/checks.js';
import { campaignIds, createInProcessCampaigns, ingest, startInProcess } from '../lib/system.js';
import type { Check } from '../lib/types.js';
import { distinctPerCampaign, impressionItem, makeWorkload } from '../lib/workload.js';
import { workerMain } from '../lib/worker.js';
import { selfCpuSeconds as cpuSeconds } from '../lib/cpu.js';

/**
 * In-process ingestion: `counter.impressions.recordMany` in batches (registry → one message per campaign
 * per batch → campaign actors), against a plain loop deduping the same items with per-campaign
 * `Map<string, number>`. Runs alternate and each rep starts from empty state.
 */
export interface InprocParams {
  readonly items: number;
  readonly campaigns: number;
  readonly batch: number;
  readonly reps: number;
}

export interface InprocResult {
  /** Impressions per second of wall time, one per rep. */
  readonly ours: number[];
  readonly map: number[];
  /** Impressions per CPU-second of this process (all its threads), one per rep. */
  readonly oursCpu: number[];
  readonly mapCpu: number[];
  readonly checks: Check[];
}

const TTL_MS = 3_600_000;

workerMain<InprocParams, InprocResult>(async (p) => {
  const ids = campaignIds(p.campaigns);
  const w = makeWorkload({ count: p.items, campaignIds: ids, duplicateShare: 0.5, seed: 31, userPrefix: 'u' });
  const items: Impression[] = Array.from({ length: p.items }, (_, i) => impressionItem(w, i));
  const batches: Impression[][] = [];
  for (let i = 0; i < items.length; i += p.batch) batches.push(items.slice(i, i + p.batch));
  const expected = distinctPerCampaign(w, p.items);

  // One unmeasured pass over a slice of the items so that both sides are measured JIT-compiled.
  const warm = batches.slice(0, Math.max(1, Math.floor(batches.length / 10)));
  {
    const { system, counter } = startInProcess();
    await createInProcessCampaigns(counter, p.campaigns);
    await ingest(counter, warm);
    system.stop();
    mapDedupe(warm.flat(), Date.now());
  }

  const ours: number[] = [];
  const map: number[] = [];
  const oursCpu: number[] = [];
  const mapCpu: number[] = [];
  let oursCheck: Check | undefined;
  let mapCheck: Check | undefined;
  for (let rep = 0; rep < p.reps; rep++) {
    const { system, counter } = startInProcess();
    await createInProcessCampaigns(counter, p.campaigns);
    const t0 = performance.now();
    const c0 = cpuSeconds();
    await ingest(counter, batches);
    oursCpu.push(p.items / (cpuSeconds() - c0));
    ours.push(p.items / ((performance.now() - t0) / 1000));
    const totals: number[] = [];
    for (const id of ids) totals.push((await counter.campaigns.stats(id)).total);
    system.stop();
    oursCheck = worst(oursCheck, totalsAgree('ours: total = distinct users sent', totals, expected));

    const t1 = performance.now();
    const c1 = cpuSeconds();
    const counted = mapDedupe(items, Date.now());
    mapCpu.push(p.items / (cpuSeconds() - c1));
    map.push(p.items / ((performance.now() - t1) / 1000));
    mapCheck = worst(mapCheck, totalsAgree('Map baseline: counted = distinct users sent', ids.map((id) => counted.get(id) ?? 0), expected));
  }
  return { ours, map, oursCpu, mapCpu, checks: [oursCheck as Check, mapCheck as Check] };
});

/** The baseline: what a plain JS loop does with the same items. */
function mapDedupe(items: readonly Impression[], at: number): Map<string, number> {
  const seen = new Map<string, Map<string, number>>();
  const counted = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const { campaignId, userId } = items[i];
    let users = seen.get(campaignId);
    if (users === undefined) seen.set(campaignId, (users = new Map()));
    const last = users.get(userId);
    if (last === undefined || at - last >= TTL_MS) {
      users.set(userId, at);
      counted.set(campaignId, (counted.get(campaignId) ?? 0) + 1);
    }
  }
  return counted;
}

function worst(a: Check | undefined, b: Check): Check {
  return a !== undefined && !a.ok ? a : b;
}
