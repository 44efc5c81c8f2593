import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ActorRef, Snapshot } from 'xstate';
import type { AnalyticsOptions } from '../../actors/analytics-protocol.js';
import { recorded, type CampaignImage, type CampaignInfo, type CampaignPage, type CampaignReplay, type RecordsFailure, type ReplaySettings, type SnapshotEvent } from '../../actors/protocol.js';
import { ask } from '../../actors/ask.js';
import type { Logger } from '../log.js';
import { isAnalyticsRecord, replayAnalyticsRecord } from './analytics-records.js';
import { FrameScanner } from './frames.js';
import { errorCode, nodeFs, type DiskFs } from './fs.js';
import { Journal, RECORD_FIXED, RecordType, type DurabilityMode, type JournalHealth } from './journal.js';
import { readSnapshot, SnapshotWriter, snapshotName } from './snapshot.js';

export interface StoreOptions<S = unknown> {
  readonly dir: string;
  /** How the recovered campaigns' states are made from snapshot images and journal facts (the in-memory campaign's). */
  readonly replay: CampaignReplay<S>;
  readonly mode: Exclude<DurabilityMode, 'off'>;
  readonly ttlMs: number;
  readonly maxPendingBytes: number;
  readonly logger: Logger;
  /** Told when the journal turns unhealthy (a write or sync failed) and healthy again. */
  readonly onHealth?: (health: JournalHealth) => void;
  /** Passed to the journal: each fdatasync's time in seconds. */
  readonly onSync?: (seconds: number) => void;
  /** Analytics limits and retention the recovered campaigns get (defaults when absent). */
  readonly analytics?: AnalyticsOptions;
  /** `fsync` mode: how long an acknowledgement may wait for the disk (default 2 s). */
  readonly durabilityTimeoutMs?: number;
  /** Snapshot generations kept, each with the journal since it (default 2). */
  readonly keep?: number;
  /** `strict` (default): refuse to start when recovery finds records lost; `lenient`: start with what was readable. */
  readonly recovery?: RecoveryMode;
  readonly fs?: DiskFs;
  /** Passed to the journal (specs fake these). */
  readonly now?: () => number;
  readonly retryMs?: number;
}

export type RecoveryMode = 'strict' | 'lenient';

/**
 * The registry as a snapshot sees it: it answers the snapshot's messages. Its `send` is a property,
 * so that only a registry whose protocol takes these messages fits.
 */
export type SnapshotSource = ActorRef<Snapshot<unknown>, SnapshotEvent>;

/** A stretch of a file recovery could not read. */
export interface Damage {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

export interface RecoveryReport {
  snapshot: string | undefined;
  campaigns: number;
  /** Counting records replayed (campaigns, counted users, impression ids). */
  records: number;
  /** Analytics records replayed (ads, impression tallies, clicks). */
  analyticsRecords: number;
  /** Journal bytes read. */
  bytes: number;
  /** Records read a second time (written again after a failed sync) and not applied twice. */
  repeated: number;
  /** Records that name a campaign whose creation is missing: lost with it. */
  orphaned: number;
  /** Sequence numbers missing before a later record: records lost. */
  missing: number;
  gaps: { file: string; from: number; count: number }[];
  /** Unreadable stretches in the middle of a segment (skipped, the rest read) and unreadable snapshots. */
  damaged: Damage[];
  /** Unreadable ends of segments: what a crash leaves of writes that were never acknowledged. */
  torn: Damage[];
  /** Files moved or copied into `quarantine/`. */
  quarantined: string[];
  ms: number;
}

/** Thrown by `Store.open` when recovery would lose records and `recovery` is `strict`. */
export class RecoveryRefusedError extends Error {
  constructor(
    message: string,
    readonly report: RecoveryReport,
  ) {
    super(message);
    this.name = 'RecoveryRefusedError';
  }
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
/** How many gaps and damaged stretches a report lists (the totals count them all). */
const REPORT_LIMIT = 20;
export const QUARANTINE = 'quarantine';

const SEGMENT = /^journal-(\d{16})\.log$/;
const SNAPSHOT = /^snapshot-(\d{16})\.bin$/;

/**
 * Durable state under DATA_DIR: the journal of facts plus snapshot generations. `open` recovers the
 * campaigns (newest readable snapshot + the journal after it) and starts a new journal segment;
 * `snapshot` captures every campaign one at a time, verifies the file it wrote, and only then removes
 * what the kept generations no longer need.
 *
 * Recovery tells the truth: records carry consecutive sequence numbers, so a record missing before a
 * later one is a loss that is counted, never smoothed over; a damaged stretch is skipped by finding
 * the next valid frame, never by truncating; damaged files go to `quarantine/`, never deleted. With
 * any loss, a strict start refuses.
 */
export class Store {
  private snapshotting: Promise<SnapshotReport> | undefined;
  /** `journal.appendedBytes` when the last snapshot started. */
  private snapshotFromBytes = 0;
  private lastSnapshotBytes = 0;
  private readonly fs: DiskFs;
  private readonly keep: number;

  private constructor(
    readonly journal: Journal,
    private readonly options: StoreOptions<unknown>,
  ) {
    this.fs = options.fs ?? nodeFs;
    this.keep = Math.max(1, options.keep ?? 2);
  }

  static async open<S>(options: StoreOptions<S>): Promise<{ store: Store; states: S[]; report: RecoveryReport }> {
    const started = performance.now();
    const fs = options.fs ?? nodeFs;
    const { dir, logger } = options;
    await fs.mkdir(dir);
    const names = (await fs.readdir(dir)).sort();
    const report: RecoveryReport = {
      snapshot: undefined,
      campaigns: 0,
      records: 0,
      analyticsRecords: 0,
      bytes: 0,
      repeated: 0,
      orphaned: 0,
      missing: 0,
      gaps: [],
      damaged: [],
      torn: [],
      quarantined: [],
      ms: 0,
    };
    /** Files to set aside once the start is allowed: moved, or copied when still needed. */
    const setAside: { name: string; copy: boolean }[] = [];

    const { replay } = options;
    const settings: ReplaySettings = { ttlMs: options.ttlMs, analytics: options.analytics };
    const states = new Map<string, S>();
    const covered = new Map<string, number>();
    let boundary = 1;
    let legacy = false;
    for (const name of names.filter((n) => SNAPSHOT.test(n)).reverse()) {
      try {
        const file = await fs.open(join(dir, name), 'r');
        try {
          const snap = await readSnapshot(file);
          for (const { image, seq } of snap.campaigns) {
            states.set(image.info.id, replay.restore(image, settings));
            covered.set(image.info.id, seq);
          }
          boundary = snap.boundary;
          legacy = snap.version < 2;
          report.snapshot = name;
        } finally {
          await file.close();
        }
        break;
      } catch (err) {
        states.clear();
        covered.clear();
        logger.error({ err, file: name }, 'snapshot unreadable; trying the previous generation');
        report.damaged.push({ file: name, offset: 0, bytes: -1, reason: err instanceof Error ? err.message : String(err) });
        setAside.push({ name, copy: false });
      }
    }

    // Replay: every record from the snapshot's boundary on, in sequence order. Segments are named
    // after their first record, so those before the boundary hold nothing newer than the snapshot.
    let expected: number | undefined = legacy ? undefined : boundary;
    let lastSeq = boundary - 1;
    const gap = (file: string, from: number, count: number) => {
      report.missing += count;
      if (report.gaps.length < REPORT_LIMIT) report.gaps.push({ file, from, count });
    };
    const digest = new Uint32Array(4);
    const sizes = new Map<string, number>();
    for (const name of names.filter((n) => SEGMENT.test(n) && Number(SEGMENT.exec(n)?.[1]) >= boundary)) {
      const first = Number(SEGMENT.exec(name)?.[1]);
      if (expected !== undefined && first > expected) gap(name, expected, first - expected);
      if (expected === undefined || first > expected) expected = first;
      const file = await fs.open(join(dir, name), 'r');
      let damagedHere = false;
      try {
        const scanner = new FrameScanner(file, await file.size(), { plausible: plausibleRecord, maxLength: 64 * 1024 * 1024 });
        report.bytes += scanner.size;
        sizes.set(name, scanner.size);
        for (;;) {
          const r = scanner.nextBuffered() ?? (await scanner.next());
          if (r.kind === 'end') break;
          if (r.kind === 'damaged') {
            const resumed = await scanner.resync();
            const damage = { file: name, offset: r.offset, bytes: resumed - r.offset, reason: r.reason };
            if (resumed >= scanner.size) {
              report.torn.push(damage);
              break;
            }
            damagedHere = true;
            if (report.damaged.length < REPORT_LIMIT) report.damaged.push(damage);
            continue;
          }
          const seq = r.payload.readDoubleLE(4);
          expected ??= seq;
          if (seq < expected) {
            report.repeated++;
            continue;
          }
          if (seq > expected) gap(name, expected, seq - expected);
          const applied = apply(r.payload, replay, settings, states, covered, digest);
          if (applied === 'malformed') {
            // Its checksum matched but its sizes do not add up: unreadable, like a damaged frame.
            damagedHere = true;
            if (report.damaged.length < REPORT_LIMIT) report.damaged.push({ file: name, offset: r.offset, bytes: r.next - r.offset, reason: 'malformed record' });
            continue;
          }
          if (applied === 'orphaned') report.orphaned++;
          else if (isAnalyticsRecord(r.payload[0] as RecordType)) report.analyticsRecords++;
          else report.records++;
          expected = seq + 1;
          lastSeq = seq;
        }
      } finally {
        await file.close();
      }
      if (damagedHere) setAside.push({ name, copy: true });
    }
    lastSeq = Math.max(lastSeq, (expected ?? boundary) - 1);
    for (const state of states.values()) replay.replayed(state);
    report.campaigns = states.size;
    report.ms = Math.round(performance.now() - started);

    const lost = report.missing > 0 || report.orphaned > 0;
    if (lost && options.recovery !== 'lenient') throw new RecoveryRefusedError(refusal(dir, report), report);
    if (lost) logger.error({ ...report }, 'recovery lost records; starting anyway (RECOVERY=lenient)');
    else if (report.damaged.length > 0) logger.error({ ...report }, 'recovery found damaged files; nothing acknowledged was lost');
    for (const t of report.torn) logger.warn({ ...t }, 'journal segment ends in a torn write (left by a crash; never acknowledged)');

    // The new segment reuses the name of one that held no readable record: keep any bytes it has aside.
    const next = `journal-${String(lastSeq + 1).padStart(16, '0')}.log`;
    if ((sizes.get(next) ?? 0) > 0) setAside.push({ name: next, copy: false });
    for (const s of setAside) report.quarantined.push(await quarantine(fs, dir, s.name, s.copy, logger));
    for (const name of names.filter((n) => n.endsWith('.tmp'))) await fs.rm(join(dir, name));

    const journal = await Journal.create({
      dir,
      mode: options.mode,
      lastSeq,
      maxPendingBytes: options.maxPendingBytes,
      durabilityTimeoutMs: options.durabilityTimeoutMs,
      onHealth: options.onHealth,
      onSync: options.onSync,
      fs,
      now: options.now,
      retryMs: options.retryMs,
    });
    return { store: new Store(journal, options), states: [...states.values()], report };
  }

  /**
   * Whether the journal has grown by `bytes` since the last snapshot started, and by at least that
   * snapshot's own size: replaying the journal then costs about what loading a snapshot does, and
   * snapshots of a large state are not taken back to back.
   */
  journalGrown(bytes: number): boolean {
    return this.journal.appendedBytes - this.snapshotFromBytes >= Math.max(bytes, this.lastSnapshotBytes);
  }

  /** Takes a snapshot unless one is running (then waits for that one). */
  snapshot(registry: SnapshotSource): Promise<SnapshotReport> {
    this.snapshotting ??= this.takeSnapshot(registry).finally(() => (this.snapshotting = undefined));
    return this.snapshotting;
  }

  /**
   * Flushes the journal, takes a final snapshot and closes. The snapshot only shortens the next
   * start (the synced journal already holds everything), so past `snapshotWithinMs` it is given up:
   * the journal is closed and `undefined` returned, and the next start replays the journal.
   */
  async close(registry: SnapshotSource, snapshotWithinMs = Number.POSITIVE_INFINITY): Promise<SnapshotReport | undefined> {
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

  private async takeSnapshot(registry: SnapshotSource): Promise<SnapshotReport> {
    const started = performance.now();
    const { dir } = this.options;
    this.snapshotFromBytes = this.journal.appendedBytes;
    const boundary = await this.journal.rotate();
    const name = snapshotName(boundary);
    const tmp = join(dir, `${name}.tmp`);
    let maxPauseMs = 0;
    let campaigns = 0;
    let bytes: number;
    try {
      const file = await this.fs.open(tmp, 'w');
      try {
        const writer = new SnapshotWriter(file);
        await writer.header(boundary, Date.now());
        const infos = await listAll(registry);
        let turnStart = performance.now();
        for (const info of infos) {
          // Captures of small campaigns resolve at once: give the event loop a turn every few ms.
          if (performance.now() - turnStart > YIELD_AFTER_MS) {
            await nextTurn();
            turnStart = performance.now();
          }
          const pauseStart = performance.now();
          // The barrier is taken inside the reply, in the same turn as the capture: no other
          // request's facts can slip in between (they would be skipped on replay yet missing from
          // the image).
          const captured = await ask<{ image: CampaignImage | undefined; seq: number }, SnapshotEvent>(
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
        bytes = writer.bytes;
        await file.datasync();
      } finally {
        await file.close();
      }
      await this.fs.rename(tmp, join(dir, name));
      await this.fs.syncDir(dir);
    } catch (err) {
      // A failed snapshot (a full disk, say) leaves nothing behind; the previous generations stand.
      await this.fs.rm(tmp).catch(() => undefined);
      throw err;
    }
    // Read back what the disk now holds before anything older is given up.
    try {
      const check = await this.fs.open(join(dir, name), 'r');
      try {
        await readSnapshot(check, false);
      } finally {
        await check.close();
      }
    } catch (err) {
      await quarantine(this.fs, dir, name, false, this.options.logger).catch(() => undefined);
      throw new Error(`snapshot ${name} did not read back (${err instanceof Error ? err.message : String(err)}); kept the previous generations`, { cause: err });
    }
    await this.compact();
    this.lastSnapshotBytes = bytes;
    return { file: name, campaigns, bytes, ms: Math.round(performance.now() - started), maxPauseMs };
  }

  /** Removes snapshots beyond the newest `keep`, and the journal segments none of those kept needs. */
  private async compact(): Promise<void> {
    const { dir } = this.options;
    const names = (await this.fs.readdir(dir)).sort();
    const snaps = names.filter((n) => SNAPSHOT.test(n));
    const kept = snaps.slice(-this.keep);
    const oldestBoundary = Number(SNAPSHOT.exec(kept[0])?.[1]);
    for (const old of names) {
      const seg = SEGMENT.exec(old);
      if ((seg && Number(seg[1]) < oldestBoundary) || (SNAPSHOT.test(old) && !kept.includes(old))) await this.fs.rm(join(dir, old));
    }
    await this.fs.syncDir(dir);
  }
}

/** What to do next, for an operator whose start was refused. */
function refusal(dir: string, r: RecoveryReport): string {
  const what = [
    r.missing > 0 && `${r.missing} journal records are missing (${r.gaps.map((g) => `${g.count} before ${g.file}`).join(', ')})`,
    r.orphaned > 0 && `${r.orphaned} records name campaigns whose creation is missing`,
    r.damaged.length > 0 && `damaged: ${r.damaged.map((d) => `${d.file} at byte ${d.offset} (${d.reason})`).join(', ')}`,
  ].filter(Boolean);
  return (
    `recovery of ${dir} would lose acknowledged data: ${what.join('; ')}. Nothing was changed. ` +
    `Restore the missing files if you have them, or start with RECOVERY=lenient to serve what could be read ` +
    `(the damaged files are then kept in ${join(dir, QUARANTINE)}).`
  );
}

/** Moves (or copies) a damaged file into `quarantine/` under a name that never overwrites another. */
async function quarantine(fs: DiskFs, dir: string, name: string, copy: boolean, logger: Logger): Promise<string> {
  const into = join(dir, QUARANTINE);
  await fs.mkdir(into);
  const target = `${name}.${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    if (copy) await fs.copyFile(join(dir, name), join(into, target));
    else await fs.rename(join(dir, name), join(into, target));
    await fs.syncDir(into);
    await fs.syncDir(dir);
  } catch (err) {
    logger.error({ err, file: name, code: errorCode(err) }, 'could not set a damaged file aside');
    return name;
  }
  logger.error({ file: name, quarantined: join(QUARANTINE, target) }, copy ? 'damaged file copied into quarantine' : 'damaged file moved into quarantine');
  return join(QUARANTINE, target);
}

async function listAll(registry: SnapshotSource): Promise<CampaignInfo[]> {
  const all: CampaignInfo[] = [];
  let after = 0;
  for (;;) {
    const page = await ask<CampaignPage | RecordsFailure, SnapshotEvent>(registry, (reply) => ({ type: 'campaign.list', after, limit: 10_000, reply }), 5000).then(recorded);
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
  [RecordType.CountedAt]: 24,
  [RecordType.TalliedAt]: 1,
};

/** A checksummed payload that starts like a journal record: resynchronising skips anything else. */
function plausibleRecord(payload: Buffer): boolean {
  return payload.length >= RECORD_FIXED + 4 && ITEM_BYTES[payload[0]] !== undefined && payload[1] === 0;
}

/** Whether a record's sizes add up (its checksum already matched). */
function wellFormed(payload: Buffer): boolean {
  const itemBytes = ITEM_BYTES[payload[0]];
  if (itemBytes === undefined || payload.length < RECORD_FIXED + 4) return false;
  const idLength = payload.readUInt16LE(2);
  if (payload.length < RECORD_FIXED + idLength + 4) return false;
  return payload.length === RECORD_FIXED + idLength + 4 + payload.readUInt32LE(RECORD_FIXED + idLength) * itemBytes;
}

/** Applies one journal record to the recovering states. */
function apply<S>(
  payload: Buffer,
  replay: CampaignReplay<S>,
  settings: ReplaySettings,
  states: Map<string, S>,
  covered: Map<string, number>,
  digest: Uint32Array,
): 'applied' | 'orphaned' | 'malformed' {
  if (!wellFormed(payload)) return 'malformed';
  const type = payload[0] as RecordType;
  const idLength = payload.readUInt16LE(2);
  const seq = payload.readDoubleLE(4);
  const at = payload.readDoubleLE(12);
  let p = RECORD_FIXED;
  const id = payload.toString('utf8', p, p + idLength);
  p += idLength;
  const count = payload.readUInt32LE(p);
  p += 4;
  if (type === RecordType.Created) {
    try {
      if (!states.has(id)) states.set(id, replay.created(JSON.parse(payload.toString('utf8', p, p + count)) as CampaignInfo, settings));
    } catch {
      return 'malformed';
    }
    return 'applied';
  }
  const state = states.get(id);
  if (state === undefined) return 'orphaned';
  if (seq <= (covered.get(id) ?? -1)) return 'applied';
  if (isAnalyticsRecord(type)) return replayAnalyticsRecord(type, replay, state, at, payload.subarray(p, p + count)) ? 'applied' : 'malformed';
  for (let k = 0; k < count; k++) {
    digest[0] = payload.readUInt32LE(p);
    digest[1] = payload.readUInt32LE(p + 4);
    digest[2] = payload.readUInt32LE(p + 8);
    digest[3] = payload.readUInt32LE(p + 12);
    p += 16;
    if (type === RecordType.Counted) replay.counted(state, at, digest);
    else if (type === RecordType.CountedAt) {
      replay.counted(state, at, digest, payload.readDoubleLE(p));
      p += 8;
    } else replay.remembered(state, at, digest, payload[p++] === 1);
  }
  return 'applied';
}

