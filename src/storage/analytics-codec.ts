import type { AdInfo } from '../../actors/analytics-protocol.js';
import type { AnalyticsImage, DedupeImage, RowImage, StatsImage, TierImage } from '../../actors/protocol.js';

/**
 * An AnalyticsImage as one byte array for a snapshot, and back. Little-endian; version byte first.
 * Typed arrays are copied whole; ad metadata travels as JSON. Version 2 gives each ad row a form
 * byte (0 paged, 1 sparse); version 3 adds the click id tables after the click dedupe table.
 * Version 1 images (every row paged) and version 2 images (no click ids) still load.
 */
const VERSION = 3;
const ROW_PAGED = 0;
const ROW_SPARSE = 1;

export function encodeAnalytics(image: AnalyticsImage): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  w.str(JSON.stringify(image.ads));
  stats(w, image.all);
  w.u32(image.tracked.length);
  for (const t of image.tracked) row(w, t);
  w.u8(image.other ? 1 : 0);
  if (image.other) row(w, image.other);
  tier(w, image.quarters);
  w.f64(image.days.firstDay);
  w.bytes(image.days.values ? bytesOf(image.days.values) : undefined);
  w.u8(image.clickDedupe ? 1 : 0);
  if (image.clickDedupe) table(w, image.clickDedupe);
  w.u8(image.clickIds ? 1 : 0);
  if (image.clickIds) {
    table(w, image.clickIds.counted);
    table(w, image.clickIds.duplicate);
  }
  return w.done();
}

function table(w: Writer, t: DedupeImage): void {
  w.f64(t.ttlMs);
  w.u32(t.shards.length);
  for (const s of t.shards) {
    w.u32(s.index);
    w.f64(s.epoch);
    w.u32(s.size);
    w.bytes(bytesOf(s.slots));
  }
}

function readTable(r: Reader): DedupeImage {
  const ttlMs = r.f64();
  const shards: DedupeImage['shards'][number][] = [];
  for (let n = r.u32(); n > 0; n--) {
    const index = r.u32();
    const epoch = r.f64();
    const size = r.u32();
    shards.push({ index, epoch, size, slots: new Uint32Array(copy(r.bytes() as Uint8Array)) });
  }
  return { ttlMs, shards };
}

export function decodeAnalytics(data: Uint8Array): AnalyticsImage {
  const r = new Reader(data);
  const version = r.u8();
  if (version < 1 || version > VERSION) throw new Error(`unknown analytics image version ${version}`);
  const readRow = version === 1 ? readStats : readRowImage;
  const ads = JSON.parse(r.str()) as AdInfo[];
  const all = readStats(r);
  const tracked: RowImage[] = [];
  for (let n = r.u32(); n > 0; n--) tracked.push(readRow(r));
  const other = r.u8() === 1 ? readRow(r) : undefined;
  const quarters = readTier(r);
  const firstDay = r.f64();
  const dayBytes = r.bytes();
  const days = { firstDay, values: dayBytes && new Float64Array(copy(dayBytes)) };
  const clickDedupe = r.u8() === 1 ? readTable(r) : undefined;
  const clickIds = version >= 3 && r.u8() === 1 ? { counted: readTable(r), duplicate: readTable(r) } : undefined;
  return { ads, all, tracked, other, quarters, days, clickDedupe, ...(clickIds && { clickIds }) };
}

function row(w: Writer, image: RowImage): void {
  if (!('log' in image)) {
    w.u8(ROW_PAGED);
    stats(w, image);
    return;
  }
  w.u8(ROW_SPARSE);
  w.str(image.id);
  w.bytes(bytesOf(image.totals));
  w.bytes(bytesOf(image.log));
  w.bytes(bytesOf(image.play));
}

function readRowImage(r: Reader): RowImage {
  if (r.u8() === ROW_PAGED) return readStats(r);
  const id = r.str();
  const f64 = (): Float64Array => new Float64Array(copy(r.bytes() as Uint8Array));
  return { id, totals: f64(), log: f64(), play: f64() };
}

function stats(w: Writer, s: StatsImage): void {
  w.str(s.id);
  w.bytes(bytesOf(s.totals));
  tier(w, s.minutes);
  tier(w, s.hours);
  for (const sketches of [s.tenMin, s.hourly, s.daily]) {
    w.u32(sketches.length);
    for (const k of sketches) {
      w.f64(k.bucketNo);
      w.u8(k.dense ? 1 : 0);
      w.bytes(bytesOf(k.data));
    }
  }
}

function readStats(r: Reader): StatsImage {
  const id = r.str();
  const totals = new Float64Array(copy(r.bytes() as Uint8Array));
  const minutes = readTier(r);
  const hours = readTier(r);
  const sketches = (): StatsImage['tenMin'] => {
    const out: StatsImage['tenMin'] = [];
    for (let n = r.u32(); n > 0; n--) {
      const bucketNo = r.f64();
      const dense = r.u8() === 1;
      const raw = copy(r.bytes() as Uint8Array);
      out.push({ bucketNo, dense, data: dense ? new Uint8Array(raw) : new Uint32Array(raw) });
    }
    return out;
  };
  return { id, totals, minutes, hours, tenMin: sketches(), hourly: sketches(), daily: sketches() };
}

function tier(w: Writer, t: TierImage): void {
  w.u32(t.pages.length);
  for (const p of t.pages) {
    w.f64(p.pageNo);
    w.bytes(p.bytes);
  }
}

function readTier(r: Reader): TierImage {
  const pages: TierImage['pages'][number][] = [];
  for (let n = r.u32(); n > 0; n--) {
    const pageNo = r.f64();
    pages.push({ pageNo, bytes: new Uint8Array(copy(r.bytes() as Uint8Array)) });
  }
  return { pages };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A fresh, aligned ArrayBuffer holding `b` (views into the image may be unaligned). */
function copy(b: Uint8Array): ArrayBuffer {
  return new Uint8Array(b).buffer; // (Buffer#slice would share memory)
}

class Writer {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  str(s: string): void {
    this.bytes(new TextEncoder().encode(s));
  }
  /** Length-prefixed bytes; undefined is written as length 0xffffffff. */
  bytes(b: Uint8Array | undefined): void {
    if (b === undefined) return this.u32(0xffff_ffff);
    this.u32(b.byteLength);
    this.room(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

class Reader {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  u8(): number {
    return this.buf[this.pos++];
  }
  u32(): number {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  str(): string {
    return new TextDecoder().decode(this.bytes());
  }
  bytes(): Uint8Array | undefined {
    const n = this.u32();
    if (n === 0xffff_ffff) return undefined;
    if (this.pos + n > this.buf.length) throw new Error('analytics image is truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
