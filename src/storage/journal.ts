import { crc32 } from 'node:zlib';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdInfo, ClickFact } from '../../actors/analytics-protocol.js';
import type { CampaignInfo, JournalSink } from '../../actors/protocol.js';
import { FRAME_HEADER, syncDir } from './frames.js';

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
  /** Clicks as a JSON array of `{a: at, ad, o: c|d|b, p?: playback seconds, d?: click-dedupe digest}`. */
  Clicked = 6,
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
  /** Bytes buffered but not yet written beyond which `backlogged` turns true. */
  readonly maxPendingBytes: number;
  readonly onError: (err: unknown) => void;
  /** Told how long each fdatasync took, in seconds: per group commit, or per second in `interval` mode (for metrics). */
  readonly onSync?: (seconds: number) => void;
}

/**
 * The append-only journal. Actors call the JournalSink methods synchronously, in processing order;
 * consecutive facts of the same kind, campaign and time are coalesced into one record. A single
 * writer loop writes what accumulated and (in `fsync` mode) fdatasyncs before resolving the
 * `durable()` promises of everything it wrote: group commit. In `interval` mode writes follow at
 * once and fdatasync runs every second; nothing waits.
 */
export class Journal implements JournalSink {
  private file!: FileHandle;
  private seq: number;
  private durableSeq: number;
  private chunks: Buffer[] = [];
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  /** `chunk[start, pos)` is appended but not yet handed to the writer. */
  private start = 0;
  private pos = 0;
  /** The record being coalesced: where it starts in `chunk` and what it is. */
  private open: { start: number; type: RecordType; id: string; at: number; countAt: number; count: number } | undefined;
  private pendingBytes = 0;
  private waiters: { seq: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private writing = false;
  private scheduled = false;
  private failed: unknown;
  private syncTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Segment switches requested by `rotate`, carried out by the writer between two writes. */
  private rotations: { next: number; resolve: (first: number) => void; reject: (err: unknown) => void }[] = [];
  /** Where the current campaign message's facts begin, while it is being processed. */
  private messageMark: { chunk: Buffer; pos: number; seq: number } | undefined;

  private constructor(private readonly options: JournalOptions) {
    this.seq = options.lastSeq;
    this.durableSeq = options.lastSeq;
  }

  /** Opens a fresh segment after `lastSeq` (recovery never appends to a segment it may have cut). */
  static async create(options: JournalOptions): Promise<Journal> {
    const journal = new Journal(options);
    journal.file = await open(join(options.dir, segmentName(options.lastSeq + 1)), 'a');
    await syncDir(options.dir);
    if (options.mode === 'interval') {
      journal.syncTimer = setInterval(() => {
        const synced = performance.now();
        journal.file.datasync().then(() => options.onSync?.((performance.now() - synced) / 1000), options.onError);
      }, 1000);
      journal.syncTimer.unref();
    }
    return journal;
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
  tallied(campaignId: string, at: number, ads: readonly string[], adCount: number, items: Uint8Array): void {
    const mark = this.messageMark;
    this.messageMark = undefined;
    this.close_();
    let size = 2 + items.length;
    for (let i = 0; i < adCount; i++) size += 2 + Buffer.byteLength(ads[i]);
    this.begin(RecordType.Tallied, campaignId, at, size);
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
    this.pos = p + items.length;
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

  /** Closes the open record and returns the last sequence number: every fact so far is ≤ it. */
  barrier(): number {
    this.close_();
    return this.seq;
  }

  /** Resolves once everything appended so far is on disk (at once in `interval` mode). */
  durable(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const seq = this.barrier();
    if (this.options.mode === 'interval' || seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** True while more than `maxPendingBytes` wait to be written: callers should shed load. */
  get backlogged(): boolean {
    return this.pendingBytes + this.pos - this.start > this.options.maxPendingBytes;
  }

  /**
   * Starts a new segment; resolves with its name's sequence number N once every record appended
   * before the call is synced in an older segment. Records in the new segment all have seq ≥ N.
   * The writer switches files between two writes, so facts that keep arriving are never starved
   * and never written to a closed file.
   */
  rotate(): Promise<number> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const last = this.barrier();
    return new Promise((resolve, reject) => {
      this.rotations.push({ next: last + 1, resolve, reject });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.barrier();
    await this.flushAll();
    clearInterval(this.syncTimer);
    await this.file.datasync();
    await this.file.close();
    this.closed = true;
  }

  private item(type: RecordType, id: string, at: number, digest: Uint32Array, flag: number): void {
    const size = DIGEST_BYTES + (flag >= 0 ? 1 : 0);
    const o = this.open;
    if (o === undefined || o.type !== type || o.at !== at || o.id !== id || this.pos + size > CHUNK_BYTES) {
      this.close_();
      this.begin(type, id, at, 0);
    }
    const c = this.chunk;
    let p = this.pos;
    c.writeUInt32LE(digest[0], p);
    c.writeUInt32LE(digest[1], p + 4);
    c.writeUInt32LE(digest[2], p + 8);
    c.writeUInt32LE(digest[3], p + 12);
    p += DIGEST_BYTES;
    if (flag >= 0) c[p++] = flag;
    this.pos = p;
    (this.open as NonNullable<Journal['open']>).count++;
  }

  /** Starts a record in the current chunk (moving to a new chunk if it might not fit). */
  private begin(type: RecordType, id: string, at: number, reserve: number): void {
    const idBytes = Buffer.byteLength(id);
    const need = FRAME_HEADER + RECORD_FIXED + idBytes + 4 + reserve + DIGEST_BYTES + 1;
    if (this.pos + need > CHUNK_BYTES) this.nextChunk(need);
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
    this.start = this.pos;
  }

  private nextChunk(need: number): void {
    this.take();
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, need));
    this.start = 0;
    this.pos = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.writeLoop();
    });
  }

  /** The single writer: takes what has accumulated, writes it, syncs, wakes waiters; repeats. */
  private async writeLoop(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (;;) {
        this.close_();
        this.take();
        const rotations = this.rotations.splice(0);
        if (this.chunks.length === 0 && rotations.length === 0) break;
        if (this.chunks.length > 0) {
          const batch = this.chunks;
          const bytes = this.pendingBytes;
          const upTo = this.seq;
          this.chunks = [];
          await this.file.writev(batch);
          if (this.options.mode === 'fsync') {
            const synced = performance.now();
            await this.file.datasync();
            this.options.onSync?.((performance.now() - synced) / 1000);
          }
          this.pendingBytes -= bytes;
          this.durableSeq = upTo;
          this.wake();
        }
        if (rotations.length > 0) {
          // Everything the rotations asked for was taken above: seal the segment, open the next.
          const first = Math.max(...rotations.map((r) => r.next));
          await this.file.datasync();
          await this.file.close();
          this.file = await open(join(this.options.dir, segmentName(first)), 'a');
          await syncDir(this.options.dir);
          for (const r of rotations) r.resolve(first);
        }
      }
    } catch (err) {
      this.failed = err;
      for (const w of this.waiters.splice(0)) w.reject(err);
      for (const r of this.rotations.splice(0)) r.reject(err);
      this.options.onError(err);
    } finally {
      this.writing = false;
    }
  }

  private wake(): void {
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].seq <= this.durableSeq) this.waiters[i++].resolve();
    if (i > 0) this.waiters.splice(0, i);
  }

  private async flushAll(): Promise<void> {
    while (this.writing || this.chunks.length > 0 || this.pos > this.start) {
      if (this.writing) await new Promise((r) => setImmediate(r));
      else await this.writeLoop();
    }
  }
}
