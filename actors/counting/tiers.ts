import { Hll } from './hll.js';

/**
 * Time-bucketed counters for analytics, kept as rings of pages allocated on first write and freed
 * once their whole span is older than the retention, so memory follows the periods that had
 * traffic: an idle campaign ends up holding nothing, a busy one at most `retain` buckets per tier.
 * A write is a few typed-array operations (the current bucket is cached), never an allocation
 * except the first write to a new page.
 */

/** Counters of a full analytics slot, by word; the playback total is a float64 at words 8–9. */
export const Metric = {
  counted: 0,
  duplicates: 1,
  botImpressions: 2,
  clicks: 3,
  duplicateClicks: 4,
  botClicks: 5,
  playbackCount: 6,
} as const;
export type MetricIndex = (typeof Metric)[keyof typeof Metric];
/** Counters then playback seconds, as `sum` fills them. */
export const SUM_WIDTH = 8;
const PLAYBACK = 7;

export interface TierLayout {
  /** 32-bit words per bucket. */
  readonly stride: number;
  /** Word index of a float64 playback total (must be even), or -1. */
  readonly playbackWord: number;
  readonly counters: number;
}

/** Seven counters, a spare word, and a float64 playback total: 40 bytes a bucket. */
export const FULL: TierLayout = { stride: 10, playbackWord: 8, counters: 7 };
/** Counted impressions and counted clicks: 8 bytes a bucket (time series). */
export const SERIES: TierLayout = { stride: 2, playbackWord: -1, counters: 2 };

interface Page {
  readonly u32: Uint32Array;
  readonly f64: Float64Array | undefined;
}

export interface TierImage {
  readonly pages: { readonly pageNo: number; readonly bytes: Uint8Array }[];
}

export class Tier {
  private readonly pages: (Page | undefined)[];
  /** The page number each ring slot holds (-1: none). */
  private readonly pageNos: Float64Array;
  // The bucket last written: [curStart, curEnd) in ms and its first word in `curPage`.
  private curStart = 0;
  private curEnd = -Infinity;
  private curPage: Page | undefined;
  private curWord = 0;
  /** Bytes of the pages held, kept as pages come and go (read on every message: never a walk). */
  private held = 0;

  constructor(
    readonly layout: TierLayout,
    readonly bucketMs: number,
    readonly pageBuckets: number,
    /** Buckets kept, counting the current one. */
    readonly retain: number,
  ) {
    const ring = Math.ceil(retain / pageBuckets) + 1;
    this.pages = new Array<Page | undefined>(ring);
    this.pageNos = new Float64Array(ring).fill(-1);
  }

  /** Adds `n` to counter `metric` of the bucket containing `at`. */
  bump(at: number, metric: number, n = 1): void {
    if (at >= this.curStart && at < this.curEnd) {
      (this.curPage as Page).u32[this.curWord + metric] += n;
      return;
    }
    if (this.seek(at)) (this.curPage as Page).u32[this.curWord + metric] += n;
  }

  /** Sets counter `metric` of the bucket containing `at` (a page is made only for a value other than 0). */
  set(at: number, metric: number, value: number): void {
    if (value === 0 && this.pageAt(Math.floor(Math.floor(at / this.bucketMs) / this.pageBuckets)) === undefined) return;
    if (this.seek(at)) (this.curPage as Page).u32[this.curWord + metric] = value;
  }

  /** Adds `seconds` of playback to the bucket containing `at` (and one to its playback count). */
  playback(at: number, seconds: number): void {
    if (!(at >= this.curStart && at < this.curEnd) && !this.seek(at)) return;
    const page = this.curPage as Page;
    page.u32[this.curWord + Metric.playbackCount]++;
    (page.f64 as Float64Array)[(this.curWord + this.layout.playbackWord) >> 1] += seconds;
  }

  /** Adds `seconds` of playback to the bucket containing `at`, without counting a playback. */
  addSeconds(at: number, seconds: number): void {
    if (!(at >= this.curStart && at < this.curEnd) && !this.seek(at)) return;
    ((this.curPage as Page).f64 as Float64Array)[(this.curWord + this.layout.playbackWord) >> 1] += seconds;
  }

  /**
   * Adds buckets `from..to` (inclusive bucket numbers) into `out` (counters, then playback), counting
   * only buckets still retained at bucket `now`.
   */
  sum(from: number, to: number, now: number, out: Float64Array): void {
    const { layout, pageBuckets } = this;
    from = Math.max(from, now - this.retain + 1);
    for (let b = from; b <= to; ) {
      const pageNo = Math.floor(b / pageBuckets);
      const last = Math.min(to, pageNo * pageBuckets + pageBuckets - 1);
      const page = this.pageAt(pageNo);
      if (page !== undefined) {
        for (let k = b; k <= last; k++) {
          const w = (k - pageNo * pageBuckets) * layout.stride;
          for (let c = 0; c < layout.counters; c++) out[c] += page.u32[w + c];
          if (page.f64 !== undefined) out[PLAYBACK] += page.f64[(w + layout.playbackWord) >> 1];
        }
      }
      b = last + 1;
    }
  }

  /** Counter `metric` of bucket `b` (0 when not retained). */
  get(b: number, metric: number, now: number): number {
    if (b <= now - this.retain) return 0;
    const pageNo = Math.floor(b / this.pageBuckets);
    const page = this.pageAt(pageNo);
    return page === undefined ? 0 : page.u32[(b - pageNo * this.pageBuckets) * this.layout.stride + metric];
  }

  /** Frees every page whose buckets are all older than the retention at `at`. */
  compact(at: number): void {
    const oldest = Math.floor(at / this.bucketMs) - this.retain + 1;
    for (let i = 0; i < this.pages.length; i++) {
      const page = this.pages[i];
      if (page !== undefined && (this.pageNos[i] + 1) * this.pageBuckets <= oldest) {
        this.held -= page.u32.byteLength;
        this.pages[i] = undefined;
        this.pageNos[i] = -1;
      }
    }
    this.curEnd = -Infinity;
  }

  get bytes(): number {
    return this.held;
  }

  capture(): TierImage {
    const pages: TierImage['pages'][number][] = [];
    for (let i = 0; i < this.pages.length; i++) {
      const p = this.pages[i];
      if (p !== undefined) pages.push({ pageNo: this.pageNos[i], bytes: new Uint8Array(p.u32.buffer.slice(0)) });
    }
    return { pages };
  }

  /** Loads pages captured from a tier of the same layout and bucket size (oldest first wins last). */
  load(image: TierImage): void {
    const expected = this.pageBuckets * this.layout.stride * 4;
    for (const { pageNo, bytes } of [...image.pages].sort((a, b) => a.pageNo - b.pageNo)) {
      if (bytes.byteLength !== expected) continue;
      const slot = pageNo % this.pages.length;
      if (this.pageNos[slot] > pageNo) continue;
      this.held += expected - (this.pages[slot]?.u32.byteLength ?? 0);
      this.pages[slot] = this.wrap(new Uint8Array(bytes).buffer);
      this.pageNos[slot] = pageNo;
    }
    this.curEnd = -Infinity;
  }

  private pageAt(pageNo: number): Page | undefined {
    const slot = pageNo % this.pages.length;
    return this.pageNos[slot] === pageNo ? this.pages[slot] : undefined;
  }

  /** Points the cache at the bucket containing `at`; false when that bucket's page was recycled. */
  private seek(at: number): boolean {
    const b = Math.floor(at / this.bucketMs);
    const pageNo = Math.floor(b / this.pageBuckets);
    const slot = pageNo % this.pages.length;
    const held = this.pageNos[slot];
    if (held > pageNo) return false; // older than the ring reaches
    let page = this.pages[slot];
    if (held !== pageNo || page === undefined) {
      if (page === undefined) {
        page = this.pages[slot] = this.wrap(new ArrayBuffer(this.pageBuckets * this.layout.stride * 4));
        this.held += page.u32.byteLength;
      } else page.u32.fill(0); // recycle the expired page in place
      this.pageNos[slot] = pageNo;
    }
    this.curPage = page;
    this.curStart = b * this.bucketMs;
    this.curEnd = this.curStart + this.bucketMs;
    this.curWord = (b - pageNo * this.pageBuckets) * this.layout.stride;
    return true;
  }

  private wrap(buffer: ArrayBuffer): Page {
    return { u32: new Uint32Array(buffer), f64: this.layout.playbackWord >= 0 ? new Float64Array(buffer) : undefined };
  }
}

/**
 * Counted impressions and clicks per UTC day, kept for `retainDays` (Infinity: forever) in one
 * growable float64 array (16 bytes a day since the first day with traffic).
 */
export class DayTier {
  private values: Float64Array | undefined;
  private firstDay = 0;

  constructor(readonly retainDays: number) {}

  bump(at: number, metric: 0 | 1, n = 1): void {
    const day = Math.floor(at / DAY_MS);
    let v = this.values;
    if (v === undefined) {
      v = this.values = new Float64Array(16);
      this.firstDay = day;
    } else if (day < this.firstDay || (day - this.firstDay) * 2 + 1 >= v.length) {
      v = this.grow(day);
    }
    v[(day - this.firstDay) * 2 + metric] += n;
  }

  get(day: number, metric: 0 | 1, nowDay: number): number {
    const v = this.values;
    if (v === undefined || day < this.firstDay || day <= nowDay - this.retainDays) return 0;
    const i = (day - this.firstDay) * 2 + metric;
    return i < v.length ? v[i] : 0;
  }

  /** Drops days beyond the retention from the front. */
  compact(at: number): void {
    const v = this.values;
    if (v === undefined || !Number.isFinite(this.retainDays)) return;
    const oldest = Math.floor(at / DAY_MS) - this.retainDays + 1;
    const drop = oldest - this.firstDay;
    if (drop <= 0) return;
    if (drop * 2 >= v.length) {
      this.values = undefined;
      return;
    }
    this.values = v.slice(drop * 2);
    this.firstDay = oldest;
  }

  get bytes(): number {
    return this.values?.byteLength ?? 0;
  }

  capture(): { firstDay: number; values: Float64Array | undefined } {
    return { firstDay: this.firstDay, values: this.values?.slice() };
  }

  load(image: { firstDay: number; values: Float64Array | undefined }): void {
    this.firstDay = image.firstDay;
    this.values = image.values;
  }

  private grow(day: number): Float64Array {
    const old = this.values as Float64Array;
    const first = Math.min(this.firstDay, day);
    const lastDay = Math.max(this.firstDay + old.length / 2 - 1, day);
    const next = new Float64Array(Math.max(16, 2 * Math.ceil(((lastDay - first + 1) * 3) / 2)));
    next.set(old, (this.firstDay - first) * 2);
    this.values = next;
    this.firstDay = first;
    return next;
  }
}

export const DAY_MS = 86_400_000;

/**
 * One HyperLogLog sketch per bucket, kept for `retain` buckets (counting the current one): unions of
 * consecutive sketches estimate the distinct users of a window.
 */
export class SketchTier {
  private readonly sketches: (Hll | undefined)[];
  private readonly bucketNos: Float64Array;
  private curStart = 0;
  private curEnd = -Infinity;
  private cur: Hll | undefined;
  /** Bytes of the sketches held, kept as they grow and go. */
  private held = 0;

  constructor(
    readonly p: number,
    readonly bucketMs: number,
    readonly retain: number,
  ) {
    this.sketches = new Array<Hll | undefined>(retain + 1);
    this.bucketNos = new Float64Array(retain + 1).fill(-1);
  }

  add(at: number, d: Uint32Array): void {
    const h = this.at(at);
    if (h === undefined) return;
    const before = h.bytes;
    h.add(d);
    this.held += h.bytes - before;
  }

  /** Raises register `index` of the sketch of the bucket containing `at` to `rank`. */
  addRegister(at: number, index: number, rank: number): void {
    const h = this.at(at);
    if (h === undefined) return;
    const before = h.bytes;
    h.addRegister(index, rank);
    this.held += h.bytes - before;
  }

  /** The sketch of the bucket containing `at` (made if need be); undefined when older than the ring reaches. */
  private at(at: number): Hll | undefined {
    if (at >= this.curStart && at < this.curEnd) return this.cur;
    const b = Math.floor(at / this.bucketMs);
    const slot = b % this.sketches.length;
    if (this.bucketNos[slot] > b) return undefined;
    let h = this.sketches[slot];
    if (this.bucketNos[slot] !== b || h === undefined) {
      this.held -= h?.bytes ?? 0;
      h = this.sketches[slot] = new Hll(this.p);
      this.bucketNos[slot] = b;
    }
    this.cur = h;
    this.curStart = b * this.bucketMs;
    this.curEnd = this.curStart + this.bucketMs;
    return h;
  }

  /** Unions buckets `from..to` (inclusive), retained at bucket `now`, into `into` (2^p registers). */
  unionInto(from: number, to: number, now: number, into: Uint8Array): void {
    from = Math.max(from, now - this.retain + 1);
    for (let b = from; b <= to; b++) {
      const slot = b % this.sketches.length;
      if (this.bucketNos[slot] === b) this.sketches[slot]?.unionInto(into);
    }
  }

  compact(at: number): void {
    const oldest = Math.floor(at / this.bucketMs) - this.retain + 1;
    for (let i = 0; i < this.sketches.length; i++) {
      const h = this.sketches[i];
      if (h !== undefined && this.bucketNos[i] < oldest) {
        this.held -= h.bytes;
        this.sketches[i] = undefined;
        this.bucketNos[i] = -1;
      }
    }
    this.curEnd = -Infinity;
  }

  get bytes(): number {
    return this.held;
  }

  capture(): { bucketNo: number; dense: boolean; data: Uint8Array | Uint32Array }[] {
    const out = [];
    for (let i = 0; i < this.sketches.length; i++) {
      const s = this.sketches[i];
      if (s !== undefined) out.push({ bucketNo: this.bucketNos[i], ...s.capture() });
    }
    return out;
  }

  load(image: readonly { bucketNo: number; dense: boolean; data: Uint8Array | Uint32Array }[]): void {
    for (const { bucketNo, dense, data } of [...image].sort((a, b) => a.bucketNo - b.bucketNo)) {
      if (dense && data.length !== 1 << this.p) continue;
      const slot = bucketNo % this.sketches.length;
      if (this.bucketNos[slot] > bucketNo) continue;
      this.held -= this.sketches[slot]?.bytes ?? 0;
      const h = (this.sketches[slot] = Hll.restore(this.p, { dense, data }));
      this.held += h.bytes;
      this.bucketNos[slot] = bucketNo;
    }
    this.curEnd = -Infinity;
  }
}
