import { mkdir, open, readdir, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { newCampaignState, replayCounted, replayRemembered, restoreCampaignState, type CampaignState } from '../../actors/campaign.js';
import type { AnalyticsOptions } from '../../actors/analytics-protocol.js';
import type { CampaignImage, CampaignInfo } from '../../actors/protocol.js';
import type { CampaignPage, RegistryEvent, RegistryRef } from '../../actors/registry.js';
import { ask } from '../../actors/ask.js';
import type { Logger } from '../log.js';
import { isAnalyticsRecord, replayAnalyticsRecord } from './analytics-records.js';
import { readFrame, syncDir } from './frames.js';
import { Journal, RECORD_FIXED, RecordType, type DurabilityMode } from './journal.js';
import { readSnapshot, SnapshotWriter, snapshotName } from './snapshot.js';

export interface StoreOptions {
  readonly dir: string;
  readonly mode: Exclude<DurabilityMode, 'off'>;
  readonly ttlMs: number;
  readonly maxPendingBytes: number;
  readonly logger: Logger;
  readonly onError: (err: unknown) => void;
  /** Passed to the journal: each group commit's fdatasync time in seconds. */
  readonly onSync?: (seconds: number) => void;
  /** Analytics limits and retention the recovered campaigns get (defaults when absent). */
  readonly analytics?: AnalyticsOptions;
}

export interface RecoveryReport {
  snapshot: string | undefined;
  campaigns: number;
  /** Counting records replayed (campaigns, counted users, impression ids). */
  records: number;
  /** Analytics records replayed (ads, impression tallies, clicks). */
  analyticsRecords: number;
  /** Segments whose torn or corrupt tail was cut off. */
  cut: string[];
  ms: number;
}

export interface SnapshotReport {
  file: string;
  campaigns: number;
  bytes: number;
  ms: number;
  /** The longest the event loop was held by one campaign's capture. */
  maxPauseMs: number;
}

/** The longest a snapshot keeps the event loop before letting requests in. */
const YIELD_AFTER_MS = 5;

const SEGMENT = /^journal-(\d{16})\.log$/;
const SNAPSHOT = /^snapshot-(\d{16})\.bin$/;

/**
 * Durable state under DATA_DIR: the journal of facts plus periodic snapshots. `open` recovers the
 * campaigns (last good snapshot + the journal after it, cutting any torn tail) and starts a new
 * journal segment; `snapshot` captures every campaign one at a time, then deletes what it covers.
 */
export class Store {
  private snapshotting: Promise<SnapshotReport> | undefined;

  private constructor(
    readonly journal: Journal,
    private readonly options: StoreOptions,
  ) {}

  static async open(options: StoreOptions): Promise<{ store: Store; states: CampaignState[]; report: RecoveryReport }> {
    const started = performance.now();
    await mkdir(options.dir, { recursive: true });
    const names = await readdir(options.dir);
    const { logger } = options;

    const states = new Map<string, CampaignState>();
    const covered = new Map<string, number>();
    let lastSeq = 0;
    let snapshotFile: string | undefined;
    for (const name of names.filter((n) => SNAPSHOT.test(n)).sort().reverse()) {
      const file = await open(join(options.dir, name), 'r');
      try {
        const snap = await readSnapshot(file);
        for (const { image, seq } of snap.campaigns) {
          states.set(image.info.id, restoreCampaignState(image, options.ttlMs, undefined, options.analytics));
          covered.set(image.info.id, seq);
          lastSeq = Math.max(lastSeq, seq);
        }
        lastSeq = Math.max(lastSeq, snap.boundary - 1);
        snapshotFile = name;
        break;
      } catch (err) {
        logger.error({ err, file: name }, 'snapshot unreadable; trying an older one');
      } finally {
        await file.close();
      }
    }

    const cut: string[] = [];
    let records = 0;
    let analyticsRecords = 0;
    const digest = new Uint32Array(4);
    for (const name of names.filter((n) => SEGMENT.test(n)).sort()) {
      const path = join(options.dir, name);
      const file = await open(path, 'r');
      let position = 0;
      try {
        const { size } = await file.stat();
        for (;;) {
          const r = await readFrame(file, position, size);
          if (r.kind === 'end') break;
          if (r.kind === 'torn') {
            logger.warn({ file: name, offset: position, bytes: size - position, reason: r.reason }, 'journal tail torn or corrupt; cutting it off');
            cut.push(name);
            break;
          }
          const seq = apply(r.payload, states, covered, options.ttlMs, digest, options.analytics);
          if (seq < 0) {
            logger.warn({ file: name, offset: position, bytes: size - position }, 'journal record malformed; cutting the tail from it');
            cut.push(name);
            break;
          }
          position = r.next;
          if (isAnalyticsRecord(r.payload[0] as RecordType)) analyticsRecords++;
          else records++;
          lastSeq = Math.max(lastSeq, seq);
        }
      } finally {
        await file.close();
      }
      if (cut.at(-1) === name) await truncate(path, position);
    }

    for (const state of states.values()) state.analytics?.endReplay();
    const journal = await Journal.create({ dir: options.dir, mode: options.mode, lastSeq, maxPendingBytes: options.maxPendingBytes, onError: options.onError, onSync: options.onSync });
    const report: RecoveryReport = { snapshot: snapshotFile, campaigns: states.size, records, analyticsRecords, cut, ms: Math.round(performance.now() - started) };
    return { store: new Store(journal, options), states: [...states.values()], report };
  }

  /** Takes a snapshot unless one is running (then waits for that one). */
  snapshot(registry: RegistryRef): Promise<SnapshotReport> {
    this.snapshotting ??= this.takeSnapshot(registry).finally(() => (this.snapshotting = undefined));
    return this.snapshotting;
  }

  /** Flushes the journal, takes a final snapshot and closes. */
  /**
   * Flushes the journal, takes a final snapshot and closes. The snapshot only shortens the next
   * start (the synced journal already holds everything), so past `snapshotWithinMs` it is given up:
   * the journal is closed and `undefined` returned, and the next start replays the journal.
   */
  async close(registry: RegistryRef, snapshotWithinMs = Number.POSITIVE_INFINITY): Promise<SnapshotReport | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => {
      if (Number.isFinite(snapshotWithinMs)) timer = setTimeout(() => resolve(undefined), snapshotWithinMs);
    });
    try {
      return await Promise.race([this.snapshot(registry), deadline]);
    } finally {
      clearTimeout(timer);
      await this.journal.close();
    }
  }

  private async takeSnapshot(registry: RegistryRef): Promise<SnapshotReport> {
    const started = performance.now();
    const boundary = await this.journal.rotate();
    const name = snapshotName(boundary);
    const tmp = join(this.options.dir, `${name}.tmp`);
    const file = await open(tmp, 'w');
    const writer = new SnapshotWriter(file);
    let maxPauseMs = 0;
    let campaigns = 0;
    try {
      await writer.header(boundary, Date.now());
      const infos = await listAll(registry);
      let turnStart = performance.now();
      for (const info of infos) {
        // Captures of small campaigns resolve at once: give the event loop a turn every few ms.
        if (performance.now() - turnStart > YIELD_AFTER_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          turnStart = performance.now();
        }
        const pauseStart = performance.now();
        // The barrier is taken inside the reply, in the same turn as the capture: no other
        // request's facts can slip in between (they would be skipped on replay yet missing from
        // the image).
        const captured = await ask<{ image: CampaignImage | undefined; seq: number }, RegistryEvent>(
          registry,
          (reply) => ({ type: 'campaign.capture', id: info.id, reply: (image) => reply({ image, seq: this.journal.barrier() }) }),
          5000,
        );
        maxPauseMs = Math.max(maxPauseMs, performance.now() - pauseStart);
        const { image, seq } = captured;
        if (image === undefined) throw new Error(`campaign ${info.id} could not be captured`);
        try {
          await writer.campaign(image, seq);
        } finally {
          image.release?.();
        }
        campaigns++;
      }
      await writer.end(campaigns);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(tmp, join(this.options.dir, name));
    await syncDir(this.options.dir);
    // Everything before `boundary` is now in the snapshot.
    for (const old of await readdir(this.options.dir)) {
      const seg = SEGMENT.exec(old);
      const snap = SNAPSHOT.exec(old);
      if ((seg && Number(seg[1]) < boundary) || (snap && old !== name) || old.endsWith('.tmp')) {
        await rm(join(this.options.dir, old), { force: true });
      }
    }
    return { file: name, campaigns, bytes: writer.bytes, ms: Math.round(performance.now() - started), maxPauseMs };
  }
}

async function listAll(registry: RegistryRef): Promise<CampaignInfo[]> {
  const all: CampaignInfo[] = [];
  let after = 0;
  for (;;) {
    const page = await ask<CampaignPage, RegistryEvent>(registry, (reply) => ({ type: 'campaign.list', after, limit: 10_000, reply }), 5000);
    all.push(...page.campaigns);
    if (page.next === undefined) return all;
    after = page.next;
  }
}

/** Bytes per item of each record type (Created carries `count` bytes of JSON). */
const ITEM_BYTES: Record<number, number> = {
  [RecordType.Created]: 1,
  [RecordType.Counted]: 16,
  [RecordType.Remembered]: 17,
  [RecordType.AdRegistered]: 1,
  [RecordType.Tallied]: 1,
  [RecordType.Clicked]: 1,
};

/**
 * Applies one journal record to the recovering states; returns its sequence number, or -1 when the
 * record is malformed (its checksum matched, but its sizes do not add up).
 */
function apply(payload: Buffer, states: Map<string, CampaignState>, covered: Map<string, number>, ttlMs: number, digest: Uint32Array, analytics?: AnalyticsOptions): number {
  if (payload.length < RECORD_FIXED + 4) return -1;
  const type = payload[0] as RecordType;
  const itemBytes = ITEM_BYTES[type];
  const idLength = payload.readUInt16LE(2);
  if (itemBytes === undefined || payload.length < RECORD_FIXED + idLength + 4) return -1;
  if (payload.length !== RECORD_FIXED + idLength + 4 + payload.readUInt32LE(RECORD_FIXED + idLength) * itemBytes) return -1;
  const seq = payload.readDoubleLE(4);
  const at = payload.readDoubleLE(12);
  let p = RECORD_FIXED;
  const id = payload.toString('utf8', p, p + idLength);
  p += idLength;
  const count = payload.readUInt32LE(p);
  p += 4;
  if (type === RecordType.Created) {
    if (!states.has(id)) states.set(id, newCampaignState({ info: JSON.parse(payload.toString('utf8', p, p + count)) as CampaignInfo, ttlMs, analytics }));
    return seq;
  }
  const state = states.get(id);
  if (state === undefined || seq <= (covered.get(id) ?? -1)) return seq;
  if (isAnalyticsRecord(type)) return replayAnalyticsRecord(type, state, at, payload.subarray(p, p + count)) ? seq : -1;
  for (let k = 0; k < count; k++) {
    digest[0] = payload.readUInt32LE(p);
    digest[1] = payload.readUInt32LE(p + 4);
    digest[2] = payload.readUInt32LE(p + 8);
    digest[3] = payload.readUInt32LE(p + 12);
    p += 16;
    if (type === RecordType.Counted) replayCounted(state, at, digest);
    else replayRemembered(state, at, digest, payload[p++] === 1);
  }
  return seq;
}
