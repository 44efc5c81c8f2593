import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AdInfo, ClickFact } from '../../actors/analytics-protocol.js';
import type { CampaignInfo, JournalSink } from '../../actors/protocol.js';
import { InsufficientStorageError, UnavailableError } from '../errors.js';
import { FRAME_HEADER } from './frames.js';
import { errorCode, fsError, nodeFs, writeFully, type DiskFile, type DiskFs } from './fs.js';

export type DurabilityMode = 'fsync' | 'interval' | 'off';

/** Record types. Payload: `[u8 type][u8 0][u16 idLength][f64 seq][f64 at][id utf8][u32 count][items]`. */
export const enum RecordType {
  Created = 1,
  Counted = 2,
  Remembered = 3,
  /** An ad's metadata (JSON AdInfo). */
  AdRegistered = 4,
  /** One message's impressions by ad and fate: `[u16 ads][ads: u16 length, utf8]…[3 bytes an impression]`. */
  Tallied = 5,
  /**
   * Clicks as a JSON array of `{a: at, ad, o: c|d|b, p?: playback seconds, d?: click-dedupe digest,
   * i?: click id digest, r?: when that click arrived}` (`i` and `r` are newer: records without them still load).
   */
  Clicked = 6,
  /** Like Counted, for impressions that happened before their arrival (`at`): a digest and an f64 event time per item. */
  CountedAt = 7,
  /** Like Tallied, for a message where some impression said when it happened: the items, then an f64 time per impression. */
  TalliedAt = 8,
}
export const RECORD_FIXED = 1 + 1 + 2 + 8 + 8;
const CHUNK_BYTES = 1 << 20;
const DIGEST_BYTES = 16;

export function segmentName(firstSeq: number): string {
  return `journal-${String(firstSeq).padStart(16, '0')}.log`;
}

export interface JournalOptions {
  readonly dir: string;
  readonly mode: Exclude<DurabilityMode, 'off'>;
  /** The sequence number of the last record already on disk (from recovery). */
  readonly lastSeq: number;
  /** Bytes held but not yet durable beyond which `backlogged` turns true. */
  readonly maxPendingBytes: number;
  /**
   * `fsync`: the longest an acknowledgement waits for the disk before `durable()` rejects, and the
   * age of the oldest unsynced record beyond which new writes are refused (default 2 s).
   */
  readonly durabilityTimeoutMs?: number;
  /** Told whenever the journal turns unhealthy (a write or sync failed) and healthy again. */
  readonly onHealth?: (health: JournalHealth) => void;
  /** Told how long each fdatasync took, in seconds (for metrics). */
  readonly onSync?: (seconds: number) => void;
  /** How long after a failure the journal tries the disk again (default 1 s). */
  readonly retryMs?: number;
  readonly fs?: DiskFs;
  /** Milliseconds of a monotonic clock; injected by specs that fake time. */
  readonly now?: () => number;
}

export type JournalHealth = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly reason: string; readonly error: unknown };

const HEALTHY: JournalHealth = Object.freeze({ ok: true });
/** `interval` mode syncs this often, so that nothing acknowledged stays unsynced for longer than INTERVAL_LOSS_MS. */
export const INTERVAL_SYNC_MS = 500;
/** The most acknowledged time `interval` mode may lose: older unsynced records make ingest refuse. */
export const INTERVAL_LOSS_MS = 1000;
const DEFAULT_DURABILITY_TIMEOUT_MS = 2000;
const DEFAULT_RETRY_MS = 1000;

/**
 * The append-only journal. Actors call the JournalSink methods synchronously, in processing order;
 * consecutive facts of the same kind, campaign and time are coalesced into one record. A single
 * writer loop writes what accumulated and (in `fsync` mode) fdatasyncs before resolving the
 * `durable()` promises of everything it wrote: group commit. In `interval` mode writes follow at
 * once and fdatasync runs every INTERVAL_SYNC_MS; nothing waits.
 *
 * Every write is checked: short writes continue, and a failed write or sync never acknowledges
 * anything. Everything not yet synced stays in memory, the journal turns unhealthy (new writes are
 * refused through `admit()`), and every `retryMs` it starts a fresh segment after the last synced
 * record and writes the held records again. A second fdatasync after a failed one proves nothing
 * (the kernel may have dropped the pages), so a failed segment is never trusted again: it is cut back
 * to what had synced. Segments are named after the first sequence number they hold.
 */
export class Journal implements JournalSink {
  private file: DiskFile | undefined;
  private fileName = '';
  /** Where the next write goes in `file`, and how much of `file` is known to be synced. */
  private fileOffset = 0;
  private syncedOffset = 0;
  private seq: number;
  /** The last sequence number written to `file` and the last one synced. */
  private writtenSeq: number;
  private durableSeq: number;
  /** Appended and handed to the writer, not yet written. */
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private appended = 0;
  /** Written to `file` but not yet synced: kept to write again should the sync fail. */
  private unsynced: Buffer[] = [];
  private unsyncedBytes = 0;
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  /** `chunk[start, pos)` is appended but not yet handed to the writer. */
  private start = 0;
  private pos = 0;
  /** The record being coalesced: where it starts in `chunk` and what it is. */
  private open: { start: number; type: RecordType; id: string; at: number; countAt: number; count: number } | undefined;
  /** `now()` when the oldest record that is not yet durable was appended (an upper bound on its age). */
  private oldestUnsyncedAt: number | undefined;
  private waiters: { seq: number; deadline: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private waiterTimer: NodeJS.Timeout | undefined;
  private writing = false;
  private scheduled = false;
  private syncRequested = false;
  private health_: JournalHealth = HEALTHY;
  private retryTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Segment switches requested by `rotate`, carried out by the writer between two writes. */
  private rotations: { resolve: (first: number) => void; reject: (err: unknown) => void }[] = [];
  /** Where the current campaign message's facts begin, while it is being processed. */
  private messageMark: { chunk: Buffer; pos: number; seq: number } | undefined;
  private readonly fs: DiskFs;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly retryMs: number;

  private constructor(private readonly options: JournalOptions) {
    this.seq = options.lastSeq;
    this.writtenSeq = options.lastSeq;
    this.durableSeq = options.lastSeq;
    this.fs = options.fs ?? nodeFs;
    this.now = options.now ?? (() => performance.now());
    this.timeoutMs = options.durabilityTimeoutMs ?? DEFAULT_DURABILITY_TIMEOUT_MS;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  }

  /**
   * Opens a fresh segment after `lastSeq` (recovery never appends to a segment it read). A disk that
   * cannot take even that starts the journal unhealthy, retrying, instead of failing the start.
   */
  static async create(options: JournalOptions): Promise<Journal> {
    const journal = new Journal(options);
    try {
      await journal.openSegment(options.lastSeq + 1);
    } catch (err) {
      journal.fail(err);
    }
    if (options.mode === 'interval') {
      journal.syncTimer = setInterval(() => {
        if (journal.durableSeq < journal.seq) {
          journal.syncRequested = true;
          journal.schedule();
        }
      }, INTERVAL_SYNC_MS);
      journal.syncTimer.unref();
    }
    return journal;
  }

  /** Bytes of records handed to the writer since the journal opened (a snapshot trigger). */
  get appendedBytes(): number {
    return this.appended;
  }

  /** Healthy, or why the disk is refusing the journal. */
  get health(): JournalHealth {
    return this.health_;
  }

  created(info: CampaignInfo): void {
    this.close_();
    const json = Buffer.from(JSON.stringify(info));
    this.begin(RecordType.Created, info.id, info.createdAt, json.length);
    this.pos += json.copy(this.chunk, this.pos);
    this.finishOpen(json.length);
  }

  adRegistered(campaignId: string, ad: AdInfo): void {
    this.blobRecord(RecordType.AdRegistered, campaignId, ad.createdAt, Buffer.from(JSON.stringify(ad)));
  }

  /** Marks where the facts of the campaign message about to be processed begin (see `tallied`). */
  beginMessage(): void {
    this.close_();
    this.messageMark = { chunk: this.chunk, pos: this.pos, seq: this.seq };
  }

  /**
   * The message's tally goes in front of the message's other facts (renumbered to stay in order), so
   * that a message's last record is still its last `counted` fact and replay meets the tally first.
   * If the message's facts already left the buffer (a chunk filled up), it simply follows them.
   */
  tallied(campaignId: string, at: number, ads: readonly string[], adCount: number, items: Uint8Array, times?: Float64Array): void {
    const mark = this.messageMark;
    this.messageMark = undefined;
    this.close_();
    let size = 2 + items.length + (times === undefined ? 0 : times.length * 8);
    for (let i = 0; i < adCount; i++) size += 2 + Buffer.byteLength(ads[i]);
    this.begin(times === undefined ? RecordType.Tallied : RecordType.TalliedAt, campaignId, at, size);
    const c = this.chunk;
    let p = this.pos;
    c.writeUInt16LE(adCount, p);
    p += 2;
    for (let i = 0; i < adCount; i++) {
      const n = c.write(ads[i], p + 2);
      c.writeUInt16LE(n, p);
      p += 2 + n;
    }
    c.set(items, p);
    p += items.length;
    if (times !== undefined) for (let k = 0; k < times.length; k++, p += 8) c.writeDoubleLE(times[k], p);
    this.pos = p;
    const recordStart = (this.open as NonNullable<Journal['open']>).start;
    this.finishOpen(size);
    if (mark !== undefined && mark.chunk === this.chunk && mark.pos >= this.start && recordStart > mark.pos) this.moveBefore(mark, recordStart);
  }

  /** Moves the record at `recordStart` (the last one) to `mark.pos`, renumbering the records after it. */
  private moveBefore(mark: { pos: number; seq: number }, recordStart: number): void {
    const c = this.chunk;
    const record = Buffer.from(c.subarray(recordStart, this.pos));
    c.copyWithin(mark.pos + record.length, mark.pos, recordStart);
    record.copy(c, mark.pos);
    let seq = mark.seq;
    for (let p = mark.pos; p < this.pos; ) {
      const length = c.readUInt32LE(p);
      const payload = p + FRAME_HEADER;
      c.writeDoubleLE(++seq, payload + 4);
      c.writeUInt32LE(crc32(c.subarray(payload, payload + length)), p + 4);
      p = payload + length;
    }
  }

  clicked(campaignId: string, facts: readonly ClickFact[]): void {
    const json = facts.map((f) => ({
      a: f.at,
      ad: f.adId,
      o: f.outcome === 'counted' ? 'c' : f.outcome === 'duplicate' ? 'd' : 'b',
      ...(f.playbackTime !== undefined && { p: f.playbackTime }),
      ...(f.digest !== undefined && { d: [...f.digest] }),
      ...(f.clickId !== undefined && { i: [...f.clickId.digest], r: f.clickId.at }),
    }));
    this.blobRecord(RecordType.Clicked, campaignId, facts[0]?.at ?? 0, Buffer.from(JSON.stringify(json)));
  }

  /** A record whose payload after the count is `bytes` (the count holds its length). */
  private blobRecord(type: RecordType, id: string, at: number, bytes: Buffer): void {
    this.close_();
    this.begin(type, id, at, bytes.length);
    this.pos += bytes.copy(this.chunk, this.pos);
    this.finishOpen(bytes.length);
  }

  counted(campaignId: string, at: number, user: Uint32Array): void {
    this.item(RecordType.Counted, campaignId, at, user, -1);
  }

  remembered(campaignId: string, at: number, impressionId: Uint32Array, counted: boolean): void {
    this.item(RecordType.Remembered, campaignId, at, impressionId, counted ? 1 : 0);
  }

  countedAt(campaignId: string, at: number, eventAt: number, user: Uint32Array): void {
    this.item(RecordType.CountedAt, campaignId, at, user, -1, eventAt);
  }

  /** Closes the open record and returns the last sequence number: every fact so far is ≤ it. */
  barrier(): number {
    this.close_();
    return this.seq;
  }

  /**
   * Resolves once everything appended so far is on disk (at once in `interval` mode). Rejects with a
   * 503 error when that takes longer than the durability timeout: the records stay queued and may
   * still become durable, so the caller must not call them lost, only unacknowledged.
   */
  durable(): Promise<void> {
    const seq = this.barrier();
    if (this.options.mode === 'interval' || seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, deadline: this.now() + this.timeoutMs, resolve, reject });
      this.armWaiterTimer();
    });
  }

  /** True while more than `maxPendingBytes` are held but not yet durable: callers should shed load. */
  get backlogged(): boolean {
    return this.pendingBytes + this.unsyncedBytes + this.pos - this.start > this.options.maxPendingBytes;
  }

  /**
   * Throws the error new writes should be refused with, if any: the disk failed (507 when it is
   * full, else 503), the journal holds more than its bound, or the oldest record not yet durable is
   * older than the mode allows (a stalled disk): in `interval` mode that bound is the most it may
   * lose, so acknowledging more would break the promise.
   */
  admit(): void {
    const h = this.health_;
    if (!h.ok) {
      if (h.code === 'ENOSPC') throw new InsufficientStorageError(`the disk under the data directory is full; nothing was recorded; retry later`, this.retryMs);
      throw new UnavailableError(`the journal cannot write to the disk (${h.code}); nothing was recorded; retry later`, this.retryMs);
    }
    if (this.backlogged) throw new UnavailableError('the journal is behind the disk; retry shortly', 1000);
    const oldest = this.oldestUnsyncedAt;
    if (oldest !== undefined && this.now() - oldest > this.lossBoundMs) {
      throw new UnavailableError('the disk is not keeping up: records are waiting to be synced; nothing was recorded; retry shortly', 1000);
    }
  }

  private get lossBoundMs(): number {
    return this.options.mode === 'interval' ? INTERVAL_LOSS_MS : this.timeoutMs;
  }

  /**
   * Starts a new segment; resolves with its sequence number N once every record numbered below N is
   * synced in an older segment. The new segment holds exactly the records from N on. The writer
   * switches files between two writes, so facts that keep arriving are never starved and never
   * written to a closed file.
   */
  rotate(): Promise<number> {
    if (!this.health_.ok) return Promise.reject(this.health_.error);
    this.barrier();
    return new Promise((resolve, reject) => {
      this.rotations.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Writes and syncs what is held, then closes; rejects (after closing) when the disk refuses. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.barrier();
    clearInterval(this.syncTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    try {
      if (this.health_.ok) await this.flushAll();
      else await this.writeLoop(true);
      if (!this.health_.ok) throw this.health_.error;
    } finally {
      clearTimeout(this.waiterTimer);
      await this.file?.close().catch(() => undefined);
      this.file = undefined;
    }
  }

  private item(type: RecordType, id: string, at: number, digest: Uint32Array, flag: number, eventAt?: number): void {
    const size = DIGEST_BYTES + (flag >= 0 ? 1 : 0) + (eventAt === undefined ? 0 : 8);
    const o = this.open;
    if (o === undefined || o.type !== type || o.at !== at || o.id !== id || this.pos + size > CHUNK_BYTES) {
      this.close_();
      this.begin(type, id, at, Math.max(0, size - DIGEST_BYTES - 1));
    }
    const c = this.chunk;
    let p = this.pos;
    c.writeUInt32LE(digest[0], p);
    c.writeUInt32LE(digest[1], p + 4);
    c.writeUInt32LE(digest[2], p + 8);
    c.writeUInt32LE(digest[3], p + 12);
    p += DIGEST_BYTES;
    if (flag >= 0) c[p++] = flag;
    if (eventAt !== undefined) {
      c.writeDoubleLE(eventAt, p);
      p += 8;
    }
    this.pos = p;
    (this.open as NonNullable<Journal['open']>).count++;
  }

  /** Starts a record in the current chunk (moving to a new chunk if it might not fit). */
  private begin(type: RecordType, id: string, at: number, reserve: number): void {
    const idBytes = Buffer.byteLength(id);
    const need = FRAME_HEADER + RECORD_FIXED + idBytes + 4 + reserve + DIGEST_BYTES + 1;
    if (this.pos + need > CHUNK_BYTES) this.nextChunk(need);
    this.oldestUnsyncedAt ??= this.now();
    const c = this.chunk;
    const start = this.pos;
    let p = start + FRAME_HEADER;
    c[p] = type;
    c[p + 1] = 0;
    c.writeUInt16LE(idBytes, p + 2);
    c.writeDoubleLE(++this.seq, p + 4);
    c.writeDoubleLE(at, p + 12);
    p += RECORD_FIXED;
    p += c.write(id, p);
    const countAt = p;
    p += 4;
    this.pos = p;
    this.open = { start, type, id, at, countAt, count: 0 };
  }

  private finishOpen(count: number): void {
    if (this.open) this.open.count = count;
    this.close_();
  }

  /** Writes the open record's count and frame header; schedules a write. */
  private close_(): void {
    const o = this.open;
    if (o === undefined) return;
    this.open = undefined;
    const c = this.chunk;
    c.writeUInt32LE(o.count, o.countAt);
    const payloadStart = o.start + FRAME_HEADER;
    c.writeUInt32LE(this.pos - payloadStart, o.start);
    c.writeUInt32LE(crc32(c.subarray(payloadStart, this.pos)), o.start + 4);
    this.schedule();
  }

  /** Hands the appended bytes to the writer; the chunk's free tail keeps being used. */
  private take(): void {
    if (this.pos === this.start) return;
    this.chunks.push(this.chunk.subarray(this.start, this.pos));
    this.pendingBytes += this.pos - this.start;
    this.appended += this.pos - this.start;
    this.start = this.pos;
  }

  private nextChunk(need: number): void {
    this.take();
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, need));
    this.start = 0;
    this.pos = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.writing || !this.health_.ok) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.writeLoop();
    });
  }

  /**
   * The single writer: takes what has accumulated, writes it, syncs, wakes waiters; repeats. With
   * `recovering`, it first cuts the failed segment back and opens a fresh one for the held records.
   */
  private async writeLoop(recovering = false): Promise<void> {
    if (this.writing || (!this.health_.ok && !recovering)) return;
    this.writing = true;
    let rotations: Journal['rotations'] = [];
    try {
      if (recovering) await this.reopen();
      for (;;) {
        this.close_();
        this.take();
        rotations = this.rotations.splice(0);
        const mustSync = this.options.mode === 'fsync' || rotations.length > 0 || this.syncRequested || !this.health_.ok;
        if (this.chunks.length === 0 && rotations.length === 0 && !(mustSync && this.writtenSeq > this.durableSeq)) break;
        if (this.chunks.length > 0) {
          const batch = this.chunks;
          const bytes = this.pendingBytes;
          const upTo = this.seq;
          // Until it has synced, the batch is held in `unsynced` (the bytes stay counted).
          this.chunks = [];
          this.pendingBytes = 0;
          this.unsynced.push(...batch);
          this.unsyncedBytes += bytes;
          this.fileOffset += await writeFully(this.segment(), batch, this.fileOffset);
          this.writtenSeq = upTo;
        }
        if (mustSync && this.writtenSeq > this.durableSeq) await this.sync();
        if (!this.health_.ok) this.setHealth(HEALTHY);
        if (rotations.length > 0) {
          // Everything up to `writtenSeq` is synced in the old segment; the next record starts the new one.
          const first = this.writtenSeq + 1;
          await this.segment().close();
          this.file = undefined;
          await this.openSegment(first);
          for (const r of rotations.splice(0)) r.resolve(first);
        }
      }
      if (!this.health_.ok) this.setHealth(HEALTHY);
    } catch (err) {
      for (const r of rotations) r.reject(err);
      this.fail(err);
    } finally {
      this.writing = false;
    }
  }

  private segment(): DiskFile {
    if (this.file === undefined) throw fsError('EBADF', 'no journal segment is open');
    return this.file;
  }

  private async sync(): Promise<void> {
    const upTo = this.writtenSeq;
    const startedAt = this.now();
    const t0 = performance.now();
    this.syncRequested = false;
    await this.segment().datasync();
    this.options.onSync?.((performance.now() - t0) / 1000);
    this.syncedOffset = this.fileOffset;
    this.unsynced = [];
    this.unsyncedBytes = 0;
    this.durableSeq = upTo;
    // Records appended since the sync started are younger than its start: a safe over-estimate.
    this.oldestUnsyncedAt = this.seq > upTo ? startedAt : undefined;
    this.wake();
  }

  /** Opens (creating or emptying) the segment whose first record is `first`. */
  private async openSegment(first: number): Promise<void> {
    this.fileName = segmentName(first);
    this.fileOffset = 0;
    this.syncedOffset = 0;
    this.file = await this.fs.open(join(this.options.dir, this.fileName), 'w');
    await this.fs.syncDir(this.options.dir);
  }

  /**
   * After a failure: the failed segment is cut back to what synced (or removed when nothing did;
   * both best effort, recovery tolerates either), and a fresh segment starts after the last synced
   * record, to receive the held records again.
   */
  private async reopen(): Promise<void> {
    const failed = this.fileName;
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
    if (failed !== '') {
      const path = join(this.options.dir, failed);
      if (this.syncedOffset === 0) await this.fs.rm(path).catch(() => undefined);
      else {
        await this.fs
          .open(path, 'r+')
          .then(async (f) => {
            try {
              await f.truncate(this.syncedOffset);
              await f.datasync();
            } finally {
              await f.close();
            }
          })
          .catch(() => undefined);
      }
    }
    this.writtenSeq = this.durableSeq;
    await this.openSegment(this.durableSeq + 1);
  }

  /** Holds everything not yet durable, turns unhealthy and schedules a retry. Acknowledges nothing. */
  private fail(err: unknown): void {
    if (this.unsynced.length > 0) {
      this.chunks = [...this.unsynced, ...this.chunks];
      this.pendingBytes += this.unsyncedBytes;
      this.unsynced = [];
      this.unsyncedBytes = 0;
    }
    this.writtenSeq = this.durableSeq;
    for (const r of this.rotations.splice(0)) r.reject(err);
    const code = errorCode(err);
    this.setHealth({ ok: false, code, reason: code === 'ENOSPC' ? 'disk full' : `disk error (${code})`, error: err });
    if (!this.closed && this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.writeLoop(true);
      }, this.retryMs);
    }
  }

  /** Tells `onHealth` of each change (not of every failed retry: one log line per outage). */
  private setHealth(health: JournalHealth): void {
    const before = this.health_;
    this.health_ = health;
    const changed = before.ok !== health.ok || (!before.ok && !health.ok && before.code !== health.code);
    if (changed) this.options.onHealth?.(health);
    if (health.ok) this.schedule();
  }

  private wake(): void {
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].seq <= this.durableSeq) this.waiters[i++].resolve();
    if (i > 0) this.waiters.splice(0, i);
  }

  /** One timer for all waiters: they are queued in deadline order, so only the first needs one. */
  private armWaiterTimer(): void {
    if (this.waiterTimer !== undefined || this.waiters.length === 0) return;
    this.waiterTimer = setTimeout(() => {
      this.waiterTimer = undefined;
      const now = this.now();
      let i = 0;
      while (i < this.waiters.length && this.waiters[i].deadline <= now) i++;
      for (const w of this.waiters.splice(0, i)) {
        w.reject(new UnavailableError(`not yet on disk after ${this.timeoutMs} ms; the write may still become durable, so a retry with the same impression_id or click_id is safe`, 1000));
      }
      this.armWaiterTimer();
    }, Math.max(0, this.waiters[0].deadline - this.now()));
    this.waiterTimer.unref();
  }

  private async flushAll(): Promise<void> {
    while (this.health_.ok && (this.writing || this.chunks.length > 0 || this.pos > this.start || this.writtenSeq > this.durableSeq)) {
      if (this.writing) await nextTurn();
      else {
        this.syncRequested = true;
        await this.writeLoop();
      }
    }
  }
}
