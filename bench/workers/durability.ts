import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ask } from '../../actors/ask.js';
import { campaignReplay } from '../../actors/campaign/campaign.js';
import { systemClock } from '../../actors/counting/clock.js';
import type { Impression } from '../../actors/protocol.js';
import type { IngestResult, RegistryEvent, RegistryRef } from '../../actors/registry/registry.js';
import { analyticsConfig } from '../../src/use-cases/analytics.js';
import { startCounting } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Store, type SnapshotReport } from '../../src/storage/store.js';
import { workerMain } from '../lib/worker.js';
import { userId } from '../lib/workload.js';

/**
 * Builds a DATA_DIR holding `keys` live dedupe keys in one campaign, fast, with the service's own
 * storage code in this process (Store.open, the actor system journaling into it, the service's
 * defaults), and measures the event loop while a snapshot of that state is written under load.
 *
 * 1. `keys - 2 × loadBatches × batch` distinct users are ingested through the registry in batches.
 * 2. Snapshot window: a paced load (one batch of `batch` new users every `paceMs`, `loadBatches` of
 *    them) runs while `store.snapshot` writes the state; a 1 ms event-loop delay histogram runs
 *    throughout. The window lasts until both are done.
 * 3. Baseline window: the same paced load and the same probe for as long as the snapshot window
 *    lasted, with no snapshot.
 * 4. The journal is closed without a final snapshot, as after a crash: the directory holds the
 *    snapshot plus a journal tail (the users sent after the snapshot's barrier), which the service
 *    must replay on restart. Users are `userId('d', n)` for n in [0, keys), all in the one campaign.
 */
export interface DurabilityParams {
  readonly dir: string;
  readonly keys: number;
  readonly batch: number;
  readonly loadBatches: number;
  readonly paceMs: number;
}

export interface LoopProbe {
  /** Longest gap between ticks of a 1 ms timer, in ms (includes the 1 ms itself). */
  readonly maxMs: number;
  readonly p99Ms: number;
  readonly windowMs: number;
  /** Users sent by the paced load in the window and how long the load took to send them. */
  readonly loadUsers: number;
  readonly loadMs: number;
  /** The longest a single load batch took to be answered (ingest + any copy-on-write copying). */
  readonly longestBatchMs: number;
}

export interface DurabilityResult {
  readonly campaignId: string;
  readonly keys: number;
  readonly total: number;
  readonly buildMs: number;
  readonly snapshot: SnapshotReport;
  readonly withSnapshot: LoopProbe;
  readonly baseline: LoopProbe;
}

const ASK_MS = 60_000;

workerMain<DurabilityParams, DurabilityResult>(async (p) => {
  const config = loadConfig({});
  const analytics = analyticsConfig(config);
  let failure: unknown;
  const { store, states } = await Store.open({
    dir: p.dir,
    replay: campaignReplay,
    // The files are the same in every mode; `interval` lets the build run without waiting for fsyncs.
    mode: 'interval',
    ttlMs: config.dedupTtlMs,
    maxPendingBytes: config.journalBacklogBytes,
    logger: createLogger('warn'),
    onHealth: (health) => void (health.ok || (failure ??= health.error)),
    analytics,
  });
  const { system, counter } = startCounting(config, { journal: store.journal, onFatal: (err) => (failure ??= err), askTimeoutMs: ASK_MS });
  for (const state of states) system.registry.send({ type: 'campaign.restore', state });
  const campaignId = (await counter.campaigns.create({ name: 'durability', startTime: 0 })).id;
  const check = (): void => {
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  };

  let next = 0;
  let longestBatchMs = 0;
  const send = async (size: number): Promise<void> => {
    const items: Impression[] = new Array(size);
    for (let k = 0; k < size; k++) items[k] = { campaignId, userId: userId('d', next + k), adId: 'ad-1' };
    next += size;
    const t0 = performance.now();
    const { outcomes } = await ingest(system.registry, items);
    longestBatchMs = Math.max(longestBatchMs, performance.now() - t0);
    for (const o of outcomes) if (o !== 'counted') throw new Error(`unexpected outcome ${o} while building`);
  };

  // 1. Build, yielding between batches so the journal's writer keeps up (and waiting when it lags).
  const buildTo = p.keys - 2 * p.loadBatches * p.batch;
  if (buildTo < 0) throw new Error('keys must exceed the two load windows');
  const built = performance.now();
  while (next < buildTo) {
    await send(Math.min(10_000, buildTo - next));
    await new Promise(setImmediate);
    while (store.journal.backlogged) await new Promise((r) => setTimeout(r, 5));
    check();
  }
  const buildMs = performance.now() - built;

  // 2. Snapshot under paced load, probed.
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const probeStart = (): number => {
    histogram.reset();
    histogram.enable();
    longestBatchMs = 0;
    return performance.now();
  };
  const probeEnd = (started: number, load: { users: number; ms: number }): LoopProbe => {
    histogram.disable();
    return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, windowMs: performance.now() - started, loadUsers: load.users, loadMs: load.ms, longestBatchMs };
  };
  const pacedLoad = (): Promise<{ users: number; ms: number }> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      let sent = 0;
      const inFlight: Promise<void>[] = [];
      const timer = setInterval(() => {
        inFlight.push(send(p.batch));
        if (++sent === p.loadBatches) {
          clearInterval(timer);
          Promise.all(inFlight).then(() => resolve({ users: sent * p.batch, ms: performance.now() - started }), reject);
        }
      }, p.paceMs);
    });

  let started = probeStart();
  const [load, snapshot] = await Promise.all([pacedLoad(), store.snapshot(system.registry)]);
  const withSnapshot = probeEnd(started, load);
  check();

  // 3. The same load and probe for as long, without a snapshot.
  started = probeStart();
  const baseLoad = await pacedLoad();
  const rest = withSnapshot.windowMs - (performance.now() - started);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  const baseline = probeEnd(started, baseLoad);
  check();

  const total = (await counter.campaigns.stats(campaignId)).total;
  // 4. No final snapshot: the restart replays the journal tail behind the snapshot.
  await store.journal.close();
  system.stop();
  check();
  return { campaignId, keys: next, total, buildMs, snapshot, withSnapshot, baseline };
});

function ingest(registry: RegistryRef, items: readonly Impression[]): Promise<IngestResult> {
  return ask<IngestResult, RegistryEvent>(registry, (reply) => ({ type: 'impressions', at: systemClock.now(), items, reply }), ASK_MS);
}
