import { performance } from 'node:perf_hooks';
import type { Impression } from '../../actors/protocol.js';
import { createInProcessCampaigns, ingest, startInProcess } from '../lib/system.js';
import { fullGc, workerMain } from '../lib/worker.js';
import { userId } from '../lib/workload.js';

/**
 * Memory per live dedupe key: distinct 15-character users into one campaign, measured after a full
 * GC beyond the process's own baseline (taken after start-up and campaign creation). "heap" is V8's
 * heapUsed plus external memory, because typed-array stores (ArrayBuffers) live outside the JS heap.
 * Must run with --expose-gc. Ids are generated batch by batch so that only the service keeps them.
 */
export interface MemoryParams {
  readonly kind: 'ours' | 'map';
  readonly checkpoints: readonly number[];
}

export interface MemoryPoint {
  readonly keys: number;
  readonly heapPerKey: number;
  readonly rssPerKey: number;
  /** Only heapUsed, and only external, per key: where the bytes are. */
  readonly jsHeapPerKey: number;
  readonly externalPerKey: number;
  /** Ingestion rate to reach this point (ours only). */
  readonly perSecond: number;
  readonly total: number;
}

const BATCH = 10_000;

interface Usage {
  heap: number;
  js: number;
  external: number;
  rss: number;
}

function usage(): Usage {
  fullGc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external, js: m.heapUsed, external: m.external, rss: m.rss };
}

function point(keys: number, base: Usage, now: Usage, perSecond: number, total: number): MemoryPoint {
  return {
    keys,
    heapPerKey: (now.heap - base.heap) / keys,
    rssPerKey: (now.rss - base.rss) / keys,
    jsHeapPerKey: (now.js - base.js) / keys,
    externalPerKey: (now.external - base.external) / keys,
    perSecond,
    total,
  };
}

workerMain<MemoryParams, MemoryPoint[]>(async (p) => {
  const points: MemoryPoint[] = [];
  if (p.kind === 'map') {
    const at = Date.now();
    const base = usage();
    const map = new Map<string, number>();
    let n = 0;
    for (const keys of p.checkpoints) {
      for (; n < keys; n++) map.set(userId('m', n), at);
      points.push(point(keys, base, usage(), NaN, map.size));
    }
    return points;
  }

  const { system, counter } = startInProcess();
  const [id] = await createInProcessCampaigns(counter, 1);
  const base = usage();
  let n = 0;
  let busyMs = 0;
  for (const keys of p.checkpoints) {
    while (n < keys) {
      const size = Math.min(BATCH, keys - n);
      const batch: Impression[] = new Array(size);
      for (let k = 0; k < size; k++) batch[k] = { campaignId: id, userId: userId('m', n + k), adId: 'ad-1' };
      const t0 = performance.now();
      await ingest(counter, [batch]);
      busyMs += performance.now() - t0;
      n += size;
    }
    const total = (await counter.campaigns.stats(id)).total;
    points.push(point(keys, base, usage(), n / (busyMs / 1000), total));
  }
  system.stop();
  return points;
});
