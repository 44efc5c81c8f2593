import type { AnalyticsOptions } from '../../actors/analytics-protocol.js';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import sinon from 'sinon';
import { campaignReplay } from '../../actors/campaign/campaign.js';
import { hash128 } from '../../actors/counting/hash128.js';
import type { CampaignInfo, Impression, Outcome } from '../../actors/protocol.js';
import type { DeadLetterReport, SupervisionReport } from '../../actors/registry/registry.js';
import type { CounterSystem } from '../../actors/system.js';
import { startCounting } from '../../src/compose.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Counter } from '../../src/counter.js';
import type { Logger } from '../../src/log.js';
import { FrameScanner } from '../../src/storage/frames.js';
import { nodeFs } from '../../src/storage/fs.js';
import { RECORD_FIXED } from '../../src/storage/journal.js';
import { Store, type RecoveryReport, type StoreOptions } from '../../src/storage/store.js';
import { removeTempDirs, tempDir } from './process.js';

/** Builders for the storage specs: decoded journal records, a gate for stalling the disk, a node. */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** A fixed, realistic instant for the manual clocks. */
export const T0 = Date.UTC(2026, 0, 15, 10, 30, 12, 345);

export class ManualClock {
  constructor(public ms: number = T0) {}
  now(): number {
    return this.ms;
  }
}

export function digestOf(text: string): Uint32Array {
  const d = new Uint32Array(4);
  hash128(text, d);
  return d;
}

export function sameDigest(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** One journal record, decoded the way recovery reads it. */
export interface DecodedRecord {
  readonly type: number;
  readonly seq: number;
  readonly at: number;
  readonly id: string;
  readonly count: number;
  /** Where the frame starts and ends in its file. */
  readonly offset: number;
  readonly end: number;
}

/** Every good frame of a journal segment, stopping at the first torn one (as recovery does). */
export async function readRecords(path: string): Promise<{ records: DecodedRecord[]; size: number; torn?: string }> {
  const file = await nodeFs.open(path, 'r');
  try {
    const size = await file.size();
    const scanner = new FrameScanner(file, size);
    const records: DecodedRecord[] = [];
    for (;;) {
      const r = await scanner.next();
      if (r.kind === 'end') return { records, size };
      if (r.kind === 'damaged') return { records, size, torn: r.reason };
      const p = r.payload;
      const idLength = p.readUInt16LE(2);
      records.push({
        type: p[0],
        seq: p.readDoubleLE(4),
        at: p.readDoubleLE(12),
        id: p.toString('utf8', RECORD_FIXED, RECORD_FIXED + idLength),
        count: p.readUInt32LE(RECORD_FIXED + idLength),
        offset: r.offset,
        end: r.next,
      });
    }
  } finally {
    await file.close();
  }
}

export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

export async function segments(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((n) => /^journal-\d{16}\.log$/.test(n));
}

export async function snapshots(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((n) => /^snapshot-\d{16}\.bin$/.test(n));
}

let fileHandleProto: FileHandle | undefined;

/** The prototype every `fs/promises` FileHandle shares, for stubbing `datasync`/`writev`. */
export async function fileHandlePrototype(): Promise<FileHandle> {
  if (fileHandleProto === undefined) {
    // Any file will do; opening the node binary read-only writes nothing anywhere.
    const handle = await open(process.execPath, 'r');
    fileHandleProto = Object.getPrototypeOf(handle) as FileHandle;
    await handle.close();
  }
  return fileHandleProto;
}

/** A promise the test opens by hand: stalls whatever awaits it until `release()`. */
export class Gate {
  private open_ = false;
  private readonly waiting: (() => void)[] = [];
  /** How many callers are parked at the gate right now. */
  get parked(): number {
    return this.waiting.length;
  }
  wait(): Promise<void> {
    if (this.open_) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    this.open_ = true;
    for (const w of this.waiting.splice(0)) w();
  }
}

/**
 * Stalls every FileHandle `datasync` (fdatasync) behind a gate: the write happens, the sync waits.
 * Returns the stub (its callCount is the number of syncs requested) and the gate.
 */
export async function stallDatasync(): Promise<{ stub: sinon.SinonStub; gate: Gate }> {
  const proto = await fileHandlePrototype();
  const real = proto.datasync;
  const gate = new Gate();
  const stub = sinon.stub(proto, 'datasync').callsFake(async function (this: FileHandle) {
    await gate.wait();
    return real.call(this);
  });
  return { stub, gate };
}

/** A logger that records what it was asked to log, at every level. */
export function recordingLogger(): { logger: Logger; lines: { level: string; obj: unknown; msg?: string }[] } {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const logger = pino({ level: 'silent' });
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) {
    (logger as any)[level] = (obj: unknown, msg?: string) => lines.push({ level, obj, msg });
  }
  return { logger, lines };
}

export interface NodeOptions {
  readonly clock?: ManualClock;
  readonly ttlMs?: number;
  readonly mode?: StoreOptions['mode'];
  readonly maxPendingBytes?: number;
  readonly maxRestarts?: number;
  readonly onDeadLetter?: (r: DeadLetterReport) => void;
  readonly onSupervision?: (r: SupervisionReport) => void;
  /** Ads, clicks and analytics options, for the store's recovery and the actors alike. */
  readonly analytics?: AnalyticsOptions;
  /** Anything else the store takes (a faulty file system, a recovery mode, …). */
  readonly store?: Partial<Omit<StoreOptions, 'replay'>>;
}

/**
 * What `main.ts` assembles, in process: recover the store, start the actor system with the journal,
 * restore every recovered campaign, and put the Counter façade in front.
 */
export interface Node {
  readonly dir: string;
  readonly store: Store;
  readonly report: RecoveryReport;
  readonly system: CounterSystem;
  readonly counter: Counter;
  readonly clock: ManualClock;
  /** Journal write errors reported through `onError` (must stay empty). */
  readonly errors: unknown[];
  readonly log: { level: string; obj: unknown; msg?: string }[];
  createCampaign(id: string): Promise<CampaignInfo>;
  /** Records `users` in `campaignId` as one batch (each an impression of that user). */
  record(campaignId: string, users: readonly string[], impressionId?: (user: string) => string): Promise<Outcome[]>;
  total(campaignId: string): Promise<number>;
  /** Stops without a snapshot (what a crash leaves, given every write above was acknowledged). */
  crash(): Promise<void>;
  /** The graceful path: final snapshot, then close. */
  shutdown(): Promise<void>;
}

export async function bootNode(dir: string, options: NodeOptions = {}): Promise<Node> {
  const clock = options.clock ?? new ManualClock();
  const errors: unknown[] = [];
  const { logger, lines } = recordingLogger();
  const ttlMs = options.ttlMs ?? HOUR_MS;
  const { store, states, report } = await Store.open({
    dir,
    replay: campaignReplay,
    mode: options.mode ?? 'fsync',
    ttlMs,
    maxPendingBytes: options.maxPendingBytes ?? 64 * 1024 * 1024,
    logger,
    onHealth: (health) => {
      if (!health.ok) errors.push(health.error);
    },
    analytics: options.analytics,
    ...options.store,
  });
  // The ticker is left to the specs (an hour apart): they sweep by advancing the clock.
  const base: Config = { ...loadConfig({}), dedupTtlMs: ttlMs, sweepIntervalMs: 3_600_000, maxRestarts: options.maxRestarts ?? 5, restartWindowMs: 60_000, askTimeoutMs: 2000 };
  // The store's recovery and the actors must agree on the analytics settings, so a spec's go to both.
  const analytics = options.analytics;
  const config: Config =
    analytics === undefined
      ? base
      : {
          ...base,
          analyticsMaxAds: analytics.maxAds,
          clickDedupTtlMs: analytics.clickTtlMs,
          seriesMinuteRetentionMs: analytics.minuteRetentionMs,
          seriesHourRetentionMs: analytics.hourRetentionMs,
          seriesDayRetentionMs: analytics.dayRetentionMs,
        };
  let ids = 0;
  const { system, counter } = startCounting(config, {
    clock,
    journal: store.journal,
    onDeadLetter: options.onDeadLetter,
    onSupervision: options.onSupervision,
    onFatal: (err) => errors.push(err),
    newId: () => `generated-${++ids}`,
  });
  for (const state of states) system.registry.send({ type: 'campaign.restore', state });
  let stopped = false;
  const node: Node = {
    dir,
    store,
    report,
    system,
    counter,
    clock,
    errors,
    log: lines,
    async createCampaign(id) {
      const info: CampaignInfo = { id, name: `campaign ${id}`, startTime: 0, createdAt: clock.now() };
      const created = (await new Promise<unknown>((resolve) => system.registry.send({ type: 'campaign.create', info, reply: resolve }))) as CampaignInfo;
      await store.journal.durable();
      return created;
    },
    async record(campaignId, users, impressionId) {
      const items: Impression[] = users.map((u) => ({ campaignId, userId: u, adId: 'ad-1', impressionId: impressionId?.(u) }));
      return (await counter.impressions.recordMany(items)).outcomes;
    },
    async total(campaignId) {
      return (await counter.campaigns.stats(campaignId)).total;
    },
    async crash() {
      if (stopped) return;
      stopped = true;
      system.stop();
      await store.journal.close();
    },
    async shutdown() {
      if (stopped) return;
      stopped = true;
      await store.close(system.registry);
      system.stop();
    },
  };
  return node;
}

export function users(count: number, prefix = 'user-'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/**
 * A fresh data directory before each test (`sub` inside a temporary one, when given) and `boot()` for
 * nodes on it; after each test the nodes are crashed, sinon restored and the directories removed.
 */
export function useDataDir(sub?: string): { dir: string; boot(options?: NodeOptions): Promise<Node> } {
  const nodes: Node[] = [];
  const data = {
    dir: '',
    async boot(options: NodeOptions = {}): Promise<Node> {
      const node = await bootNode(data.dir, options);
      nodes.push(node);
      return node;
    },
  };
  beforeEach(async () => {
    data.dir = sub === undefined ? await tempDir() : join(await tempDir(), sub);
  });
  afterEach(async () => {
    sinon.restore();
    for (const n of nodes.splice(0)) await n.crash().catch(() => undefined);
    await removeTempDirs();
  });
  return data;
}

/** `node` once it has created campaign c1 and counted `n` distinct users in it. */
export async function counted(node: Promise<Node>, n: number): Promise<Node> {
  const ready = await node;
  await ready.createCampaign('c1');
  await ready.record('c1', users(n));
  return ready;
}
