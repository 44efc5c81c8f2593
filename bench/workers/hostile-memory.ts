import type { Impression } from '../../actors/protocol.js';
import { createInProcessCampaigns, ingest, startInProcess } from '../lib/system.js';
import { fullGc, workerMain } from '../lib/worker.js';

/**
 * The analytics attack replayed in process: `campaigns` campaigns, each sent 10,000 impressions of
 * distinct users over `ads` ad ids in 100 batches of 100. Figures are marginal (the second half of
 * the campaigns, after a full GC at the half-way point and at the end), so the heap's own growth at
 * start-up is not charged to campaigns. Must run with --expose-gc.
 */
export interface HostileParams {
  readonly campaigns: number;
  readonly ads: number;
}

export interface HostilePoint {
  readonly campaigns: number;
  /** Per campaign, bytes. */
  readonly heap: number;
  readonly rss: number;
  readonly stateBytes: number;
  /** Impressions counted, summed over the campaigns (must be 10,000 each). */
  readonly total: number;
}

const IMPRESSIONS = 10_000;
const BATCH = 100;

workerMain<HostileParams, HostilePoint>(async (p) => {
  const { system, counter } = startInProcess();
  const measure = async (): Promise<{ heap: number; rss: number; state: number }> => {
    fullGc();
    const m = process.memoryUsage();
    const d = await counter.campaigns.describe();
    return { heap: m.heapUsed + m.external, rss: m.rss, state: d.children.reduce((n, c) => n + c.bytes, 0) };
  };
  const ids = await createInProcessCampaigns(counter, p.campaigns);
  const feed = async (id: string, c: number): Promise<void> => {
    for (let b = 0; b < IMPRESSIONS / BATCH; b++) {
      const batch: Impression[] = new Array(BATCH);
      for (let i = 0; i < BATCH; i++) {
        const k = b * BATCH + i;
        batch[i] = { campaignId: id, userId: `user-${c}-${k}`, adId: `ad-${k % p.ads}` };
      }
      await ingest(counter, [batch]);
    }
  };
  const half = Math.floor(p.campaigns / 2);
  for (let c = 0; c < half; c++) await feed(ids[c], c);
  const mid = await measure();
  for (let c = half; c < p.campaigns; c++) await feed(ids[c], c);
  const end = await measure();
  let total = 0;
  for (const id of ids) total += (await counter.campaigns.stats(id)).total;
  system.stop();
  const n = p.campaigns - half;
  return { campaigns: n, heap: (end.heap - mid.heap) / n, rss: (end.rss - mid.rss) / n, stateBytes: (end.state - mid.state) / n, total };
});
