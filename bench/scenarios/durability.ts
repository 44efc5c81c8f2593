import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { httpRequest } from '../load.js';
import { totalsAgree } from '../lib/checks.js';
import { Child, freePort, HOST, startServer, type ServerChild } from '../lib/children.js';
import { describeRun, measureHttp, type HttpRun } from '../lib/measure.js';
import { percentiles } from '../lib/percentiles.js';
import { createCampaigns, fetchTotals } from '../lib/servers.js';
import type { BenchContext, Check, Scenario, Section } from '../lib/types.js';
import { runWorker } from '../lib/worker.js';
import { batchJson, distinctPerCampaign, impressionJson, makeWorkload, userId, type Workload } from '../lib/workload.js';
import type { DurabilityParams, DurabilityResult } from '../workers/durability.js';

/**
 * What durability costs and what it promises, each figure beside a baseline measured in the same run:
 * 1. batches of 1,000 over HTTP against the service with DURABILITY=fsync and DURABILITY=off (both
 *    running, measured alternately so drift and neighbours hit both alike): the fsync/off ratio;
 * 2. restart time (spawn to the "listening" log line) on a DATA_DIR holding 10M live dedupe keys
 *    (1M in --quick), built in-process with the service's storage code (`workers/durability.ts`),
 *    beside the same start on an empty DATA_DIR; then the counts and dedupe are checked over HTTP;
 * 3. the event loop's longest stall while that state is snapshotted under a paced load, beside the
 *    same load and probe without a snapshot;
 * 4. restart time and replay rate after 2 minutes (15 s in --quick) of single-impression POSTs and a
 *    kill -9, beside the same start on an empty DATA_DIR.
 */
const BATCH = 1000;
const CONNECTIONS = 8;
const CAMPAIGNS = 4;
const MILLION = 1_000_000;
const SERVICE_MAX_MS = 5 * 60_000;
const SAMPLE = 1000;

type Mode = 'fsync' | 'off';

const FULL = {
  order: ['off', 'fsync', 'fsync', 'off', 'off', 'fsync'] as Mode[],
  warmBatches: 200,
  warmMs: 1000,
  maxBatches: 2500,
  durationMs: 3000,
  keys: 10 * MILLION,
  loadBatches: 300,
  singlePostMs: 120_000,
};
const QUICK = {
  order: ['off', 'fsync', 'fsync', 'off'] as Mode[],
  warmBatches: 100,
  warmMs: 500,
  maxBatches: 1000,
  durationMs: 1500,
  keys: MILLION,
  loadBatches: 100,
  singlePostMs: 15_000,
};
type Params = typeof FULL;

const LOAD_PACE_MS = 10;

export const durability: Scenario = {
  id: 'durability',
  title: 'durability: fsync throughput, restart, snapshot pauses',
  async run(ctx) {
    const p = ctx.quick ? QUICK : FULL;
    const throughputSection = await throughput(ctx, p);
    const [restartSection, pauseSection] = await restartAndPauses(ctx, p);
    const replaySection = await restartAfterSinglePosts(ctx, p);
    return [throughputSection, restartSection, pauseSection, replaySection];
  },
};

/** The service in `mode` on a free loopback port with its own throw-away DATA_DIR. */
async function startMode(ctx: BenchContext, mode: Mode): Promise<ServerChild> {
  const dataDir = mkdtempSync(join(tmpdir(), `impression-durability-${mode}-`));
  let server: ServerChild;
  try {
    server = await startServer({ name: `ours (DURABILITY=${mode})`, script: 'src/main.ts', env: { DATA_DIR: dataDir, DURABILITY: mode }, maxLifetimeMs: SERVICE_MAX_MS });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  try {
    await waitReady(server);
  } catch (err) {
    await server.child.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  ctx.log(`  started ours with DURABILITY=${mode} (pid ${server.child.pid}, port ${server.port})`);
  return {
    ...server,
    async stop() {
      await server.child.stop(11_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The service binds its port before recovery (answering 503 meanwhile): wait for /readyz. */
async function waitReady(server: ServerChild, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!server.child.running) throw new Error(server.child.describeExit());
    const status = await fetch(`http://${HOST}:${server.port}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.arrayBuffer().then(() => r.status),
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${server.child.name} not ready within ${timeoutMs} ms:\n${server.child.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function requestsOf(w: Workload): Buffer[] {
  return Array.from({ length: w.users.length / BATCH }, (_, b) => httpRequest('POST', '/api/v1/impressions', batchJson(w, b * BATCH, (b + 1) * BATCH)));
}

interface ModeRuns {
  runs: HttpRun[];
  totals: number[];
  expected: number[];
  failed: number;
  firstError: string | undefined;
}

async function throughput(ctx: BenchContext, p: Params): Promise<Section> {
  ctx.log(`durability: batches of ${BATCH} at ${CONNECTIONS} connections, DURABILITY=fsync vs off, runs ${p.order.join(', ')}`);
  const servers: Partial<Record<Mode, ServerChild>> = {};
  try {
    const [fsync, off] = await Promise.all([startMode(ctx, 'fsync'), startMode(ctx, 'off')]);
    servers.fsync = fsync;
    servers.off = off;
    // The same stream of users and campaign choices in every run; each run gets fresh campaigns.
    const base = makeWorkload({ count: p.maxBatches * BATCH, campaignIds: Array.from({ length: CAMPAIGNS }, (_, i) => String(i)), duplicateShare: 0.5, seed: 71, userPrefix: 'u' });
    const results: Record<Mode, ModeRuns> = {
      fsync: { runs: [], totals: [], expected: [], failed: 0, firstError: undefined },
      off: { runs: [], totals: [], expected: [], failed: 0, firstError: undefined },
    };
    for (const mode of ['fsync', 'off'] as const) {
      const server = servers[mode] as ServerChild;
      const [warmId] = await createCampaigns(server.port, 1, `durability-warm-${mode}`);
      const warmWork = makeWorkload({ count: p.warmBatches * BATCH, campaignIds: [warmId], duplicateShare: 0.5, seed: 72, userPrefix: 'w' });
      const warm = await measureHttp(server, { connections: CONNECTIONS, requests: requestsOf(warmWork), durationMs: p.warmMs });
      if (warm.load.failed > 0) throw new Error(`${server.child.name}: ${warm.load.failed} warm-up batches failed; first: ${warm.load.firstError}`);
    }
    for (const [i, mode] of p.order.entries()) {
      const server = servers[mode] as ServerChild;
      const ids = await createCampaigns(server.port, CAMPAIGNS, `durability-${mode}-${i}`);
      const w: Workload = { ...base, campaignIds: ids, quotedIds: ids.map((id) => JSON.stringify(id)) };
      const run = await measureHttp(server, { connections: CONNECTIONS, requests: requestsOf(w), durationMs: p.durationMs }).catch((err: unknown) => {
        throw server.child.running ? err : new Error(server.child.describeExit());
      });
      ctx.log(describeRun(`DURABILITY=${mode}`, run, 'batch'));
      const r = results[mode];
      r.runs.push(run);
      r.failed += run.load.failed;
      r.firstError ??= run.load.firstError;
      r.totals.push(...(await fetchTotals(server.port, ids)));
      r.expected.push(...distinctPerCampaign(w, run.load.issued * BATCH));
    }

    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const agg = (m: Mode) => {
      const runs = results[m].runs;
      const ok = sum(runs.map((r) => r.load.ok));
      const [p50, p99] = percentiles(Float64Array.from(runs.flatMap((r) => Array.from(r.load.latenciesMs))), [50, 99]);
      return {
        perSecond: (ok * BATCH) / (sum(runs.map((r) => r.load.elapsedMs)) / 1000),
        perCpuSecond: (ok * BATCH) / sum(runs.map((r) => r.serverCpuS)),
        p50,
        p99,
        ok,
        cpu: sum(runs.map((r) => r.serverCpuS)),
        other: sum(runs.map((r) => r.otherCpuS)),
      };
    };
    const f = agg('fsync');
    const o = agg('off');
    const ratio = { op: '>=' as const, value: 0.85 };
    const checks: Check[] = (['fsync', 'off'] as const).map((m) => {
      const r = results[m];
      const name = `DURABILITY=${m}: total = distinct users sent`;
      if (r.failed > 0) return { name, ok: false, detail: `${r.failed} batches failed, first: ${r.firstError}` };
      return totalsAgree(name, r.totals, r.expected);
    });
    const perRun = (m: Mode): string => results[m].runs.map((r) => Math.round(r.perSecond * BATCH).toLocaleString('en-US')).join(' / ');
    return {
      title: `7 durability: batches of 1,000, ${CONNECTIONS} conns, fsync vs off`,
      figures: [
        { name: 'impressions per second, fsync', unit: 'imp/s', value: f.perSecond, baselines: [{ name: 'DURABILITY=off', value: o.perSecond, ratioTarget: ratio }] },
        { name: 'impressions per server CPU-s, fsync', unit: 'imp/CPU-s', value: f.perCpuSecond, baselines: [{ name: 'DURABILITY=off', value: o.perCpuSecond, ratioTarget: ratio }] },
        { name: 'p50 latency per batch, fsync', unit: 'ms', value: f.p50, baselines: [{ name: 'DURABILITY=off', value: o.p50 }] },
        { name: 'p99 latency per batch, fsync', unit: 'ms', value: f.p99, baselines: [{ name: 'DURABILITY=off', value: o.p99 }] },
      ],
      checks,
      notes: [
        `both services run side by side (own temp DATA_DIR each) and are measured alternately (${p.order.join(', ')}; ${p.durationMs / 1000} s each, fresh campaigns per run, ` +
          `~50 % repeat users over ${CAMPAIGNS} campaigns); figures pool the runs: fsync ${(f.ok * BATCH).toLocaleString('en-US')} impressions (per run ${perRun('fsync')} imp/s), ` +
          `off ${(o.ok * BATCH).toLocaleString('en-US')} (per run ${perRun('off')} imp/s); server CPU ${f.cpu.toFixed(1)} / ${o.cpu.toFixed(1)} s, other processes ${f.other.toFixed(1)} / ${o.other.toFixed(1)} CPU-s; ` +
          'the target is on both ratios (wall-clock, where waiting for the disk shows, and per server CPU-second)',
      ],
    };
  } finally {
    await Promise.all([servers.fsync?.stop(), servers.off?.stop()]);
  }
}

interface TimedStart {
  readonly child: Child;
  readonly port: number;
  /** Spawn to the "listening" log line. */
  readonly startMs: number;
  /** The "recovered state from disk" report. */
  readonly recovery: { ms: number; campaigns: number; records: number; analyticsRecords: number; bytes: number; snapshot?: string };
}

/** Starts the service on `dataDir` (LOG_LEVEL=info) and times it from spawn to its "listening" line. */
async function timedStart(name: string, dataDir: string): Promise<TimedStart> {
  const port = await freePort();
  const started = performance.now();
  const child = new Child({
    name,
    script: 'src/main.ts',
    maxLifetimeMs: SERVICE_MAX_MS,
    env: { PORT: String(port), HOST, LOG_LEVEL: 'info', DATA_DIR: dataDir, DURABILITY: 'fsync' },
  });
  try {
    return await new Promise<TimedStart>((resolve, reject) => {
      let recovery: TimedStart['recovery'] | undefined;
      let pending = '';
      const timer = setTimeout(() => reject(new Error(`${name} did not log "listening" within 60 s:\n${child.output()}`)), 60_000);
      child.proc.stdout?.on('data', (chunk: Buffer) => {
        const lines = (pending + chunk.toString()).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          let entry: { msg?: string } & Partial<TimedStart['recovery']>;
          try {
            entry = JSON.parse(line) as typeof entry;
          } catch {
            continue;
          }
          if (entry.msg === 'recovered state from disk') {
            recovery = {
              ms: Number(entry.ms),
              campaigns: Number(entry.campaigns),
              records: Number(entry.records),
              analyticsRecords: Number(entry.analyticsRecords ?? 0),
              bytes: Number(entry.bytes ?? 0),
              snapshot: entry.snapshot,
            };
          } else if (entry.msg?.startsWith('listening') === true) {
            const startMs = performance.now() - started;
            clearTimeout(timer);
            if (recovery === undefined) reject(new Error(`${name} listened without logging "recovered state from disk"`));
            else resolve({ child, port, startMs, recovery });
          }
        }
      });
      void child.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(child.describeExit()));
      });
    });
  } catch (err) {
    await child.stop();
    throw err;
  }
}

async function getJson<T>(port: number, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`http://${HOST}:${port}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function stopTimed(ctx: BenchContext, child: Child): Promise<void> {
  const t0 = Date.now();
  await child.stop(11_000);
  if (Date.now() - t0 > 1000) ctx.log(`  ${child.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s to shut down (${child.describeExit().split('\n')[0]})`);
}

async function restartAndPauses(ctx: BenchContext, p: Params): Promise<[Section, Section]> {
  const label = `${p.keys / MILLION}M`;
  const dir = mkdtempSync(join(tmpdir(), 'impression-durability-restart-'));
  const empty = mkdtempSync(join(tmpdir(), 'impression-durability-empty-'));
  try {
    ctx.log(`durability: building ${label} live dedupe keys in one campaign in-process, snapshot under load (${p.loadBatches} batches of ${BATCH} every ${LOAD_PACE_MS} ms)`);
    const params: DurabilityParams = { dir, keys: p.keys, batch: BATCH, loadBatches: p.loadBatches, paceMs: LOAD_PACE_MS };
    const built = await runWorker<DurabilityResult>({ name: 'durability worker', script: 'bench/workers/durability.ts', params, timeoutMs: 240_000 });
    const { snapshot, withSnapshot: ws, baseline: wb } = built;
    ctx.log(
      `  built in ${(built.buildMs / 1000).toFixed(1)} s; snapshot ${(snapshot.bytes / 2 ** 20).toFixed(0)} MiB in ${snapshot.ms} ms, maxPauseMs ${snapshot.maxPauseMs.toFixed(2)}; ` +
        `loop stall max ${ws.maxMs.toFixed(1)} ms (p99 ${ws.p99Ms.toFixed(1)}, longest batch ${ws.longestBatchMs.toFixed(1)}) vs ${wb.maxMs.toFixed(1)} ms ` +
        `(p99 ${wb.p99Ms.toFixed(1)}, longest batch ${wb.longestBatchMs.toFixed(1)}) without snapshot`,
    );

    // Baseline first: the same service start on an empty DATA_DIR.
    const base = await timedStart('ours (empty DATA_DIR)', empty);
    ctx.log(`  empty DATA_DIR: listening after ${base.startMs.toFixed(0)} ms (recovery ${base.recovery.ms} ms)`);
    await stopTimed(ctx, base.child);

    const ours = await timedStart(`ours (${label} keys)`, dir);
    const checks: Check[] = [
      { name: `in-process: total = distinct users sent @${label}`, ok: built.total === built.keys, detail: `${built.total.toLocaleString('en-US')} counted, ${built.keys.toLocaleString('en-US')} distinct` },
      { name: 'empty DATA_DIR recovered nothing', ok: base.recovery.campaigns === 0, detail: `${base.recovery.campaigns} campaigns` },
    ];
    try {
      ctx.log(`  ${label} keys: listening after ${ours.startMs.toFixed(0)} ms (recovery ${ours.recovery.ms} ms, ${ours.recovery.records.toLocaleString('en-US')} coalesced journal records replayed)`);
      const statsPath = `/api/v1/campaigns/${encodeURIComponent(built.campaignId)}/stats`;
      const before = (await getJson<{ total: number }>(ours.port, statsPath)).total;
      const sample = Array.from({ length: SAMPLE }, (_, i) => ({ campaign_id: built.campaignId, user_id: userId('d', Math.floor(((i + 0.5) * built.keys) / SAMPLE)), ad_id: 'ad-1' }));
      const answer = await getJson<{ counted: number; duplicates: number }>(ours.port, '/api/v1/impressions', sample);
      const after = (await getJson<{ total: number }>(ours.port, statsPath)).total;
      checks.push(
        { name: `after restart: total = distinct users sent @${label}`, ok: before === built.keys, detail: `${before.toLocaleString('en-US')} counted, ${built.keys.toLocaleString('en-US')} distinct` },
        {
          name: 'after restart: users counted before it are duplicates',
          ok: answer.duplicates === SAMPLE && answer.counted === 0 && after === before,
          detail: `${SAMPLE} users spread over the ${label}: ${answer.duplicates} duplicates, ${answer.counted} counted; total ${after.toLocaleString('en-US')} after`,
        },
      );
    } finally {
      await stopTimed(ctx, ours.child);
    }

    const restart: Section = {
      title: `7 durability: restart with ${label} live dedupe keys`,
      figures: [
        { name: 'spawn to listening', unit: 's', value: ours.startMs / 1000, target: { op: '<=', value: 5 }, baselines: [{ name: 'empty DATA_DIR', value: base.startMs / 1000 }] },
        { name: 'recovery (report ms)', unit: 'ms', value: ours.recovery.ms, baselines: [{ name: 'empty DATA_DIR', value: base.recovery.ms }] },
      ],
      checks,
      notes: [
        `${ctx.quick ? `--quick: ${label} keys, not 10M; ` : ''}state built in-process with the service's Store and actor system (${(built.buildMs / 1000).toFixed(1)} s), ` +
          `left as after a crash: the snapshot taken under load (${ours.recovery.snapshot}, ${(snapshot.bytes / 2 ** 20).toFixed(0)} MiB) plus a journal tail of at least ` +
          `${wb.loadUsers.toLocaleString('en-US')} users (${ours.recovery.records.toLocaleString('en-US')} coalesced counting records replayed); the service (node --import tsx src/main.ts, DURABILITY=fsync, LOG_LEVEL=info) ` +
          'is timed from spawn to its "listening" log line, node and tsx start-up included, beside the same start on an empty DATA_DIR',
      ],
    };
    const pauses: Section = {
      title: `7 durability: snapshot pauses @${label} keys`,
      figures: [
        { name: 'longest event-loop stall, snapshot under load', unit: 'ms', value: ws.maxMs, target: { op: '<=', value: 50 }, baselines: [{ name: 'same load, no snapshot', value: wb.maxMs }] },
        { name: 'p99 event-loop delay, snapshot under load', unit: 'ms', value: ws.p99Ms, baselines: [{ name: 'same load, no snapshot', value: wb.p99Ms }] },
        { name: 'longest load batch of 1,000, snapshot under load', unit: 'ms', value: ws.longestBatchMs, baselines: [{ name: 'same load, no snapshot', value: wb.longestBatchMs }] },
        { name: 'snapshot report maxPauseMs', unit: 'ms', value: snapshot.maxPauseMs, target: { op: '<=', value: 50 }, baselines: [{ name: 'longest stall, no snapshot', value: wb.maxMs }] },
        { name: 'snapshot duration', unit: 's', value: snapshot.ms / 1000 },
      ],
      checks: [],
      notes: [
        `in the worker that built the state: perf_hooks monitorEventLoopDelay at 1 ms resolution (its max is the longest gap between 1 ms ticks, the tick included) ` +
          `over a ${(ws.windowMs / 1000).toFixed(1)} s window in which store.snapshot wrote ${(snapshot.bytes / 2 ** 20).toFixed(0)} MiB (${snapshot.ms} ms) while a paced load ` +
          `(one batch of ${BATCH} new users into the same campaign every ${LOAD_PACE_MS} ms, ${ws.loadUsers.toLocaleString('en-US')} users) went on; ` +
          `baseline: the same load and probe for ${(wb.windowMs / 1000).toFixed(1)} s without a snapshot; maxPauseMs is the store's own figure (the longest campaign capture ask), which does not see the copy-on-write ` +
          'copying that the first writes after a capture do (by 4 KiB page: a batch of 1,000 random users copies a few MiB of pages, which the stall figure includes)',
      ],
    };
    return [restart, pauses];
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
}

/**
 * The restart a crash under ordinary load costs: single-impression POSTs for `singlePostMs`, then
 * kill -9, then the service timed from spawn to "listening" beside an empty DATA_DIR, its replay rate
 * taken from its own recovery report, and its totals checked over HTTP.
 */
async function restartAfterSinglePosts(ctx: BenchContext, p: Params): Promise<Section> {
  const dir = mkdtempSync(join(tmpdir(), 'impression-durability-posts-'));
  const empty = mkdtempSync(join(tmpdir(), 'impression-durability-empty-'));
  const seconds = p.singlePostMs / 1000;
  try {
    ctx.log(`durability: ${seconds} s of single-impression POSTs at 32 connections (DURABILITY=fsync), then kill -9 and a timed restart`);
    const server = await startServer({ name: 'ours (single POSTs)', script: 'src/main.ts', env: { DATA_DIR: dir, DURABILITY: 'fsync' }, maxLifetimeMs: SERVICE_MAX_MS });
    let issued: number;
    let w: Workload;
    try {
      await waitReady(server);
      const ids = await createCampaigns(server.port, CAMPAIGNS, 'durability-posts');
      // Sized for ~15k requests/s, more than this box serves, so the time bound ends the run.
      w = makeWorkload({ count: Math.min(2_500_000, Math.round(seconds * 15_000)), campaignIds: ids, duplicateShare: 0.5, seed: 73, userPrefix: 's' });
      const requests = Array.from({ length: w.users.length }, (_, i) => httpRequest('POST', '/api/v1/impressions', impressionJson(w, i)));
      const run = await measureHttp(server, { connections: 32, requests, durationMs: p.singlePostMs });
      ctx.log(describeRun('single POSTs before the crash', run, 'request'));
      if (run.load.failed > 0) throw new Error(`${run.load.failed} requests failed; first: ${run.load.firstError}`);
      issued = run.load.issued;
    } finally {
      server.child.proc.kill('SIGKILL');
      await server.child.exited;
    }

    const base = await timedStart('ours (empty DATA_DIR)', empty);
    await stopTimed(ctx, base.child);
    const ours = await timedStart('ours (after single POSTs)', dir);
    let totals: number[];
    try {
      totals = await fetchTotals(ours.port, w.campaignIds);
    } finally {
      await stopTimed(ctx, ours.child);
    }
    const replayed = ours.recovery.records + ours.recovery.analyticsRecords;
    const rate = replayed / Math.max(0.001, ours.recovery.ms / 1000);
    ctx.log(
      `  after ${issued.toLocaleString('en-US')} POSTs: listening after ${ours.startMs.toFixed(0)} ms (empty: ${base.startMs.toFixed(0)} ms); ` +
        `recovery ${ours.recovery.ms} ms, ${replayed.toLocaleString('en-US')} records, ${(ours.recovery.bytes / 2 ** 20).toFixed(0)} MiB of journal`,
    );
    return {
      title: `7 durability: restart after ${seconds} s of single POSTs and kill -9`,
      figures: [
        { name: 'spawn to listening', unit: 's', value: ours.startMs / 1000, target: { op: '<=', value: 5 }, baselines: [{ name: 'empty DATA_DIR', value: base.startMs / 1000 }] },
        { name: 'replay rate', unit: 'records/s', value: rate, target: { op: '>=', value: MILLION } },
        { name: 'journal replayed', unit: 'MiB', value: ours.recovery.bytes / 2 ** 20 },
      ],
      checks: [totalsAgree('after kill -9 and restart: total = distinct users acknowledged', totals, distinctPerCampaign(w, issued))],
      notes: [
        `${issued.toLocaleString('en-US')} single-impression POSTs (~50 % repeat users, ${CAMPAIGNS} campaigns) at 32 connections, all answered before the kill -9; ` +
          `snapshots as configured by default (every 5 min, or per SNAPSHOT_JOURNAL_BYTES=64mb of journal); recovery replayed ${replayed.toLocaleString('en-US')} journal records ` +
          `(${ours.recovery.records.toLocaleString('en-US')} counting, ${ours.recovery.analyticsRecords.toLocaleString('en-US')} analytics) from ${(ours.recovery.bytes / 2 ** 20).toFixed(1)} MiB ` +
          `after ${ours.recovery.snapshot ?? 'no snapshot'} in ${ours.recovery.ms} ms; the replay rate is records over the recovery report's ms (snapshot load included)`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
}
