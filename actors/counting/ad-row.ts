import type { AnalyticsSpan, AnalyticsWindow, WindowFigures } from './analytics-values.js';
import { AD_HLL_P, BUCKET_MS, captureStats, figuresOf, HOUR_MS, loadStats, KEPT, MINUTE_MS, spanOf, Stats, TEN_MINUTES_MS, type StatsImage } from './stats.js';
import { DAY_MS, Metric, SUM_WIDTH } from './tiers.js';

/**
 * One ad's figures (or the `(other)` row's), in memory proportional to its traffic.
 *
 * A campaign may have a thousand ads with a handful of impressions each: the paged form (stats.ts)
 * costs ~10 KB for such a row (an hour page of minute counters, an hour-of-days page, three sketch
 * rings), which made 1,000 ads ~10 MB per campaign. A row therefore starts sparse: one sorted array
 * of numbers, each entry one double `minute × 2^26 + kind × 2^24 + payload`:
 *   - kind 0, a count: payload `metric × 2^21 + n`, n of counter `metric` in that minute;
 *   - kind 1, a register: payload `index × 64 + rank`, the highest HyperLogLog rank seen for that
 *     register in the 10-minute bucket starting at `minute`;
 * and playback seconds, which are floats, as (bucket tag, seconds) pairs per minute and per hour
 * added in arrival order like the paged buckets add them, so sums are bit-identical.
 * Every figure the paged form gives is derived from these exactly: hour counters are sums of minute
 * counts, hourly and daily sketches the register-wise maximum of 10-minute registers.
 *
 * Detail nobody can read any more is folded coarser as the row ages: counts older than the minutes
 * kept (25 h: the minute windows and an hour for a ranking being paged, see KEPT) into one entry per
 * hour, registers older than the hourly sketches (24 h) into one per UTC day; counts are dropped past
 * 31 days, registers past 30. A row whose array passes PROMOTE_AT entries turns into the
 * paged form for good (busy rows are cheaper that way), replaying its entries into it.
 */
export class AdRow {
  /** The journal message this row was last listed in, and its index there. */
  mark = -1;
  local = 0;
  /**
   * `[mask, totals…, entries…]`: the all-time totals whose bit is set in `mask` (SUM_WIDTH of them at
   * most, zeros left out: most ads only ever count impressions), then the sorted entries.
   */
  private log: number[] = NONE;
  /** Numbers used in `log`. */
  private n = 0;
  private extra: Extra | undefined;

  constructor(readonly id: string) {}

  get isDense(): boolean {
    return this.extra?.dense !== undefined;
  }

  /** Entries held while sparse. */
  get entries(): number {
    return this.n === 0 ? 0 : this.n - this.head();
  }

  /** All-time counters then playback seconds (SUM_WIDTH values). */
  get totals(): number[] {
    const out = [0, 0, 0, 0, 0, 0, 0, 0];
    if (this.n === 0) return out;
    const mask = this.log[0];
    for (let m = 0, k = 1; m < SUM_WIDTH; m++) if (mask & (1 << m)) out[m] = this.log[k++];
    return out;
  }

  /** Approximate bytes held, in O(1): the row object with its Map entry and id, its array, and its extras. */
  get bytes(): number {
    let n = ROW_BYTES + this.id.length + (this.log.length > 0 ? ARRAY_BYTES + this.log.length * 8 : 0);
    const extra = this.extra;
    if (extra !== undefined) {
      n += EXTRA_BYTES;
      if (extra.play !== undefined) n += ARRAY_BYTES + extra.play.length * 8;
      if (extra.dense !== undefined) n += DENSE_BYTES + extra.dense.bytes;
    }
    return n;
  }

  count(at: number, metric: number): void {
    this.addTotal(metric, 1);
    this.bump(at, metric);
  }

  playback(at: number, seconds: number): void {
    this.addTotal(Metric.playbackCount, 1);
    this.addTotal(SUM_WIDTH - 1, seconds);
    this.bump(at, Metric.playbackCount);
    const dense = this.extra?.dense; // (bump may have promoted the row)
    if (dense !== undefined) {
      dense.minutes.addSeconds(at, seconds);
      dense.hours.addSeconds(at, seconds);
      return;
    }
    const extra = (this.extra ??= { play: undefined, dense: undefined });
    const play = (extra.play ??= []);
    addSeconds(play, Math.floor(at / MINUTE_MS), seconds);
    addSeconds(play, -Math.floor(at / HOUR_MS) - 1, seconds);
  }

  /** Adds a counted user (its 128-bit digest) to the distinct-user registers of `at`. */
  users(at: number, d: Uint32Array): void {
    const dense = this.extra?.dense;
    if (dense !== undefined) {
      dense.users(at, d);
      return;
    }
    const index = d[1] >>> (32 - AD_HLL_P);
    const w = d[2];
    const rank = w === 0 ? 33 : Math.clz32(w) + 1;
    const minute = Math.floor(at / TEN_MINUTES_MS) * 10;
    if (!(minute >= 0 && minute < MAX_MINUTE)) {
      this.promote().users(at, d);
      return;
    }
    const t = minute * KEY_MINUTE + KIND_USER + index * 64;
    if (this.n === 0) this.insertRaw(0, 0); // the mask
    const i = this.find(t, 64);
    if (i >= 0) {
      if (this.log[i] - t < rank) this.log[i] = t + rank;
      return;
    }
    this.insert(-i - 1, t + rank);
  }

  /** The figures of `window` ending at `at` (or of a span read at `at`), the same as the paged form gives for the same events. */
  figures(at: number, what: AnalyticsWindow | AnalyticsSpan): WindowFigures {
    const dense = this.extra?.dense;
    if (dense !== undefined) return dense.figures(at, what);
    // One scratch array for every row: a fresh 1 KiB typed array is allocated outside V8's heap,
    // and reusing it made reading a small row's figures ~25 % faster (a per-ad report reads every row).
    SCRATCH_REGISTERS.fill(0);
    return figuresOf(this.read(at, spanOf(at, what), SCRATCH_REGISTERS), SCRATCH_REGISTERS);
  }

  /**
   * The counters and playback seconds of a span read at `at` (SUM_WIDTH values, as `figures` sums
   * them), without the distinct-user sketch: a ranking reads every row of every campaign and needs
   * no estimate, and the sketch's 1 KiB of registers cost more than the rest of the read.
   */
  sums(at: number, span: AnalyticsSpan): Float64Array {
    const dense = this.extra?.dense;
    return dense !== undefined ? dense.sums(at, span) : this.read(at, span, undefined);
  }

  /** Sums the sparse row's counts over `span` and, given `registers`, raises them to its sketch over it. */
  private read(at: number, span: AnalyticsSpan, registers: Uint8Array | undefined): Float64Array {
    const sums = new Float64Array(SUM_WIDTH);
    const hours = span.counters === 'hours';
    const per = hours ? 60 : 1;
    const now = Math.floor(at / BUCKET_MS[span.counters]);
    const from = Math.max(span.from, now - (hours ? HOUR_RETAIN : MINUTE_RETAIN) + 1);
    const to = span.to;
    const sketchPer = BUCKET_MS[span.sketch] / MINUTE_MS;
    const sketchNow = Math.floor(at / BUCKET_MS[span.sketch]);
    const sketchFrom = Math.max(span.sketchFrom, sketchNow - SKETCH_RETAIN[span.sketch] + 1);
    const sketchTo = span.sketchTo;
    const log = this.log;
    for (let i = this.head(); i < this.n; i++) {
      const e = log[i];
      const minute = Math.floor(e / KEY_MINUTE);
      const low = e - minute * KEY_MINUTE;
      if (low < KIND_USER) {
        const b = Math.floor(minute / per);
        if (b < from || b > to) continue;
        const metric = Math.floor(low / COUNT_UNIT);
        sums[metric] += low - metric * COUNT_UNIT;
      } else if (registers !== undefined) {
        const b = Math.floor(minute / sketchPer);
        if (b < sketchFrom || b > sketchTo) continue;
        const index = (low - KIND_USER) >>> 6;
        const rank = low & 63;
        if (registers[index] < rank) registers[index] = rank;
      }
    }
    const play = this.extra?.play;
    if (play !== undefined) sums[SUM_WIDTH - 1] = playbackSum(play, hours, from, to);
    return sums;
  }

  /**
   * Folds detail that reads no longer see into coarser entries and drops what is past its retention. A
   * rebuild of the row: the caller runs it about once an hour, not on every sweep.
   */
  compact(at: number): void {
    const extra = this.extra;
    if (extra?.dense !== undefined) {
      extra.dense.compact(at);
      return;
    }
    const atHour = Math.floor(at / HOUR_MS);
    const atMinute = Math.floor(at / MINUTE_MS);
    const atDay = Math.floor(at / DAY_MS);
    const countFoldBelow = atMinute - MINUTE_RETAIN + 1;
    const userFoldBelow = (atHour - HOURLY_RETAIN + 1) * 60;
    if (extra?.play !== undefined) {
      const kept: number[] = [];
      for (let i = 0; i < extra.play.length; i += 2) {
        const tag = extra.play[i];
        if (tag >= 0 ? tag >= countFoldBelow : -tag - 1 > atHour - HOUR_RETAIN) kept.push(tag, extra.play[i + 1]);
      }
      extra.play = kept.length > 0 ? kept : undefined;
      if (extra.play === undefined) this.extra = undefined;
    }
    const head = this.head();
    if (this.n <= head || Math.floor(this.log[head] / KEY_MINUTE) >= Math.min(countFoldBelow, userFoldBelow)) return;
    const out: number[] = [];
    for (let i = head; i < this.n; i++) {
      const e = this.log[i];
      const minute = Math.floor(e / KEY_MINUTE);
      const low = e - minute * KEY_MINUTE;
      if (low < KIND_USER) {
        const hour = Math.floor(minute / 60);
        if (hour <= atHour - HOUR_RETAIN) continue;
        out.push(minute < countFoldBelow ? hour * 60 * KEY_MINUTE + low : e);
      } else {
        const day = Math.floor(minute / 1440);
        if (day <= atDay - DAILY_RETAIN) continue;
        out.push(minute < userFoldBelow ? day * 1440 * KEY_MINUTE + low : e);
      }
    }
    out.sort((a, b) => a - b);
    // Merge entries that now share a bucket: counts add (while they fit), registers keep the highest rank.
    let m = 0;
    for (let i = 0; i < out.length; i++) {
      const e = out[i];
      if (m > 0) {
        const prev = out[m - 1];
        const minute = Math.floor(e / KEY_MINUTE);
        const low = e - minute * KEY_MINUTE;
        const unit = low < KIND_USER ? COUNT_UNIT : 64;
        const id = e - (low % unit);
        if (prev >= id && prev < id + unit) {
          if (unit === 64) {
            out[m - 1] = e; // sorted: e carries the higher rank
            continue;
          }
          const sum = prev + (e - id);
          if (sum < id + COUNT_UNIT) {
            out[m - 1] = sum;
            continue;
          }
        }
      }
      out[m++] = e;
    }
    const next = new Array<number>(head + m);
    for (let i = 0; i < head; i++) next[i] = this.log[i];
    for (let i = 0; i < m; i++) next[head + i] = out[i];
    this.log = next;
    this.n = head + m;
  }

  /** Turns the row into the paged form, replaying its entries into it (same figures after as before). */
  promote(): Stats {
    const extra = (this.extra ??= { play: undefined, dense: undefined });
    if (extra.dense !== undefined) return extra.dense;
    const dense = new Stats(this.id, AD_HLL_P);
    const head = this.head();
    for (let i = head; i < this.n; i++) {
      const e = this.log[i];
      const minute = Math.floor(e / KEY_MINUTE);
      const low = e - minute * KEY_MINUTE;
      const at = minute * MINUTE_MS;
      if (low < KIND_USER) {
        const metric = Math.floor(low / COUNT_UNIT);
        const n = low - metric * COUNT_UNIT;
        dense.minutes.bump(at, metric, n);
        dense.hours.bump(at, metric, n);
      } else {
        const index = (low - KIND_USER) >>> 6;
        const rank = low & 63;
        dense.tenMin.addRegister(at, index, rank);
        dense.hourly.addRegister(at, index, rank);
        dense.daily.addRegister(at, index, rank);
      }
    }
    const play = extra.play ?? [];
    for (let i = 0; i < play.length; i += 2) {
      const tag = play[i];
      if (tag >= 0) dense.minutes.addSeconds(tag * MINUTE_MS, play[i + 1]);
      else dense.hours.addSeconds((-tag - 1) * HOUR_MS, play[i + 1]);
    }
    extra.dense = dense;
    extra.play = undefined;
    // Only the totals stay in the array.
    this.log = this.n === 0 ? NONE : this.log.slice(0, head);
    this.n = this.log.length;
    return dense;
  }

  capture(): RowImage {
    const totals = Float64Array.from(this.totals);
    const dense = this.extra?.dense;
    if (dense !== undefined) return { ...captureStats(dense), totals };
    return { id: this.id, totals, log: Float64Array.from(this.log.slice(this.n === 0 ? 0 : this.head(), this.n)), play: Float64Array.from(this.extra?.play ?? []) };
  }

  static restore(image: RowImage): AdRow {
    const row = new AdRow(image.id);
    for (let m = 0; m < SUM_WIDTH; m++) if ((image.totals[m] ?? 0) !== 0) row.addTotal(m, image.totals[m]);
    if ('log' in image) {
      if (row.n === 0 && image.log.length > 0) row.insertRaw(0, 0); // the mask
      for (const e of image.log) row.insertRaw(row.n, e);
      if (image.play.length > 0) row.extra = { play: Array.from(image.play), dense: undefined };
    } else {
      const dense = new Stats(image.id, AD_HLL_P);
      loadStats(dense, image);
      row.extra = { play: undefined, dense };
    }
    return row;
  }

  /** Where the entries start: after the mask and the totals it lists. */
  private head(): number {
    return this.n === 0 ? 0 : HEAD[this.log[0]];
  }

  private addTotal(metric: number, x: number): void {
    if (this.n === 0) this.insertRaw(0, 0);
    const bit = 1 << metric;
    const mask = this.log[0];
    let pos = 1;
    for (let m = 0; m < metric; m++) if (mask & (1 << m)) pos++;
    if (mask & bit) {
      this.log[pos] += x;
      return;
    }
    this.insertRaw(pos, 0 + x);
    this.log[0] = mask | bit;
  }

  private bump(at: number, metric: number): void {
    const dense = this.extra?.dense;
    if (dense !== undefined) {
      dense.minutes.bump(at, metric);
      dense.hours.bump(at, metric);
      return;
    }
    const minute = Math.floor(at / MINUTE_MS);
    const t = minute * KEY_MINUTE + metric * COUNT_UNIT;
    if (this.n === 0) this.insertRaw(0, 0); // the mask
    const i = minute >= 0 && minute < MAX_MINUTE ? this.find(t, COUNT_UNIT) : -1;
    if (i >= 0 && this.log[i] - t < COUNT_UNIT - 1) {
      this.log[i]++;
      return;
    }
    if (i < 0 && minute >= 0 && minute < MAX_MINUTE) {
      this.insert(-i - 1, t + 1);
      return;
    }
    // A count that no longer fits its entry, or a time outside the key's range: the paged form takes over.
    this.promote();
    this.bump(at, metric);
  }

  /** The index of the entry in [t, t + unit), or −(insertion point) − 1 (a binary search). */
  private find(t: number, unit: number): number {
    const log = this.log;
    let lo = this.head();
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.n && log[lo] < t + unit ? lo : -lo - 1;
  }

  private insert(at: number, value: number): void {
    this.insertRaw(at, value);
    if (this.n - this.head() >= PROMOTE_AT) this.promote();
  }

  private insertRaw(at: number, value: number): void {
    const n = this.n;
    if (n === this.log.length) {
      // Grown by hand to a modest slack: a pushed array would keep up to 16 spare doubles per row.
      const grown = new Array<number>(n + (n >> 2) + 2);
      for (let k = 0; k < at; k++) grown[k] = this.log[k];
      grown[at] = value;
      for (let k = at; k < n; k++) grown[k + 1] = this.log[k];
      for (let k = n + 1; k < grown.length; k++) grown[k] = 0;
      this.log = grown;
    } else {
      const log = this.log;
      for (let k = n; k > at; k--) log[k] = log[k - 1];
      log[at] = value;
    }
    this.n = n + 1;
  }
}

/** What few rows have: playback seconds (pairs: tag, seconds; tag = minute, or −(hour + 1)), or the paged form. */
interface Extra {
  play: number[] | undefined;
  dense: Stats | undefined;
}

/** A sparse row as plain values: its sorted entries and playback pairs. */
export interface SparseRowImage {
  readonly id: string;
  readonly totals: Float64Array;
  readonly log: Float64Array;
  readonly play: Float64Array;
}

export type RowImage = StatsImage | SparseRowImage;

/** Entries past which a row turns into the paged form (8 KB of entries; a busy paged row costs more). */
export const PROMOTE_AT = 1024;

const KEY_MINUTE = 2 ** 26;
const KIND_USER = 2 ** 24;
const COUNT_UNIT = 2 ** 21;
/** Minutes since 1970 that fit the key (until the year 2225). */
const MAX_MINUTE = 2 ** 27;
/** Buckets the paged form keeps per ad row (see stats.ts). */
const { minutes: MINUTE_RETAIN, hours: HOUR_RETAIN, hourly: HOURLY_RETAIN, daily: DAILY_RETAIN } = KEPT;
const SKETCH_RETAIN = KEPT;
const NONE: number[] = [];
/** Registers a sparse row's read fills and reads at once (never held across a call). */
const SCRATCH_REGISTERS = new Uint8Array(1 << AD_HLL_P);
/** 1 + the number of bits set, for every mask of SUM_WIDTH bits: where a row's entries start. */
const HEAD = Array.from({ length: 1 << SUM_WIDTH }, (_, mask) => {
  let h = 1;
  for (let m = mask; m !== 0; m >>>= 1) h += m & 1;
  return h;
});

/**
 * Heap bytes of a row object with its Map entry, of a small JS array's header, and of the paged
 * form's rings; measured with `node --expose-gc` on Node 20 (x64, no pointer compression).
 */
const ROW_BYTES = 140;
const ARRAY_BYTES = 48;
const EXTRA_BYTES = 40;
const DENSE_BYTES = 3000;

function addSeconds(play: number[], tag: number, seconds: number): void {
  for (let i = play.length - 2; i >= 0; i -= 2) {
    if (play[i] === tag) {
      play[i + 1] += seconds;
      return;
    }
  }
  play.push(tag, 0 + seconds);
}

/** Playback seconds of buckets [from, to], added in bucket order as the paged form's `sum` adds them. */
function playbackSum(play: readonly number[], hours: boolean, from: number, to: number): number {
  const hits: [number, number][] = [];
  for (let i = 0; i < play.length; i += 2) {
    const tag = play[i];
    if (tag >= 0 === hours) continue;
    const b = hours ? -tag - 1 : tag;
    if (b >= from && b <= to) hits.push([b, play[i + 1]]);
  }
  hits.sort((a, b) => a[0] - b[0]);
  let sum = 0;
  for (const [, s] of hits) sum += s;
  return sum;
}
