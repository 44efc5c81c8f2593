import { estimate } from './hll.js';
import type { AnalyticsSpan, AnalyticsWindow, WindowFigures } from './analytics-values.js';
import { DAY_MS, FULL, Metric, SketchTier, SUM_WIDTH, Tier, type TierImage } from './tiers.js';
import { TrailingSums } from './windows.js';

export const MINUTE_MS = 60_000;
export const QUARTER_MS = 15 * MINUTE_MS;
export const HOUR_MS = 3_600_000;
export const TEN_MINUTES_MS = 10 * MINUTE_MS;

/** HLL precision: campaign-wide 2^12 registers (±1.63 %), per ad 2^10 (±3.25 %). */
export const CAMPAIGN_HLL_P = 12;
export const AD_HLL_P = 10;

/**
 * How each window is read: counters from minute buckets (1h, 6h, 24h) or hour buckets (7d, 30d);
 * distinct users from sketches per 10 minutes, hour or UTC day. A window is the bucket containing
 * the read time and the ones before it, `count` of them in all.
 */
export const WINDOWS: Record<AnalyticsWindow, { counters: 'minutes' | 'hours'; count: number; sketch: 'tenMin' | 'hourly' | 'daily'; sketches: number }> = {
  '1h': { counters: 'minutes', count: 60, sketch: 'tenMin', sketches: 6 },
  '6h': { counters: 'minutes', count: 360, sketch: 'tenMin', sketches: 36 },
  '24h': { counters: 'minutes', count: 1440, sketch: 'hourly', sketches: 24 },
  '7d': { counters: 'hours', count: 168, sketch: 'daily', sketches: 7 },
  '30d': { counters: 'hours', count: 720, sketch: 'daily', sketches: 30 },
};
export const BUCKET_MS = { minutes: MINUTE_MS, hours: HOUR_MS, tenMin: TEN_MINUTES_MS, hourly: HOUR_MS, daily: DAY_MS } as const;

/** Buckets a read may start at per tier, counting the current one: what the longest window reads. */
export const RETAINED = { minutes: 1440, hours: 720, tenMin: 36, hourly: 24, daily: 30 } as const;

/**
 * Buckets every row keeps per tier: counters an hour of minutes and a day of hours beyond what reads
 * start at, so that a ranking's snapshot (src/http/analytics.ts) can still be read that much later.
 */
export const KEPT = { ...RETAINED, minutes: RETAINED.minutes + 60, hours: RETAINED.hours + 24 } as const;

/** The buckets `window` ending at `at` reads. */
export function spanOf(at: number, what: AnalyticsWindow | AnalyticsSpan): AnalyticsSpan {
  if (typeof what !== 'string') return what;
  const w = WINDOWS[what];
  const to = Math.floor(at / BUCKET_MS[w.counters]);
  const sketchTo = Math.floor(at / BUCKET_MS[w.sketch]);
  return { counters: w.counters, from: to - w.count + 1, to, sketch: w.sketch, sketchFrom: sketchTo - w.sketches + 1, sketchTo };
}

/**
 * The buckets of the range [from, to) read at `at`, or undefined when `from` is older than every
 * counter tier keeps. Counters come from minutes while `from`'s minute is still kept (24 h), else
 * from hours (30 days); the range is widened to whole buckets: from the start of `from`'s bucket to
 * the end of the bucket holding the range's last instant, and never past the end of `at`'s bucket.
 * Distinct users come from the finest sketches that still hold `from`, over the sketch buckets that
 * overlap the counters' buckets.
 */
export function rangeSpan(from: number, to: number, at: number): AnalyticsSpan | undefined {
  const counters = Math.floor(from / MINUTE_MS) > Math.floor(at / MINUTE_MS) - RETAINED.minutes ? 'minutes' : 'hours';
  const size = BUCKET_MS[counters];
  const first = Math.floor(from / size);
  if (first <= Math.floor(at / size) - RETAINED[counters]) return undefined;
  const last = Math.min(Math.ceil(to / size) - 1, Math.floor(at / size));
  const sketch = (['tenMin', 'hourly', 'daily'] as const).find((s) => Math.floor(from / BUCKET_MS[s]) > Math.floor(at / BUCKET_MS[s]) - RETAINED[s]) ?? 'daily';
  const ssize = BUCKET_MS[sketch];
  return { counters, from: first, to: last, sketch, sketchFrom: Math.floor((first * size) / ssize), sketchTo: Math.floor(((last + 1) * size - 1) / ssize) };
}

/** The oldest `from` a range read at `at` may start at. */
export function oldestFrom(at: number): number {
  return (Math.floor(at / HOUR_MS) - RETAINED.hours + 1) * HOUR_MS;
}

/**
 * Counters and distinct-user sketches in ring-paged buckets: the whole campaign's (which keeps minute
 * buckets as long as its time series needs them), or a busy ad row's (see ad-row.ts). A page holds an
 * hour of minutes, so this form pays off once a row has traffic in most minutes.
 */
export class Stats {
  readonly minutes: Tier;
  readonly hours = new Tier(FULL, HOUR_MS, 24, KEPT.hours);
  readonly tenMin: SketchTier;
  readonly hourly: SketchTier;
  readonly daily: SketchTier;
  /** All-time counters then playback seconds (SUM_WIDTH values). */
  readonly totals = new Float64Array(SUM_WIDTH);
  /** Counted in the trailing hour and day, over `minutes` (kept for the campaign-wide figures only). */
  readonly trail: TrailingSums | undefined;
  constructor(
    readonly id: string,
    readonly p = AD_HLL_P,
    minutes: number = KEPT.minutes,
    trailing = false,
  ) {
    this.minutes = new Tier(FULL, MINUTE_MS, 60, minutes);
    this.trail = trailing ? new TrailingSums((minute) => this.minutes.get(minute, Metric.counted, minute)) : undefined;
    this.tenMin = new SketchTier(p, TEN_MINUTES_MS, 36);
    this.hourly = new SketchTier(p, HOUR_MS, 24);
    this.daily = new SketchTier(p, DAY_MS, 30);
  }

  /** The figures of `window` ending at `at`, or of a span read at `at`: O(buckets in it), whatever the traffic. */
  figures(at: number, what: AnalyticsWindow | AnalyticsSpan): WindowFigures {
    const span = spanOf(at, what);
    const registers = new Uint8Array(1 << this.p);
    this[span.sketch].unionInto(span.sketchFrom, span.sketchTo, Math.floor(at / BUCKET_MS[span.sketch]), registers);
    return figuresOf(this.sums(at, span), registers);
  }

  /** The counters and playback seconds of `span` read at `at` (SUM_WIDTH values), without the sketch. */
  sums(at: number, span: AnalyticsSpan): Float64Array {
    const sums = new Float64Array(SUM_WIDTH);
    this[span.counters].sum(span.from, span.to, Math.floor(at / BUCKET_MS[span.counters]), sums);
    return sums;
  }

  count(at: number, metric: number): void {
    this.countMinute(at, metric, 1);
    this.countBeyondMinutes(at, metric);
  }

  /**
   * Adds `n` to the minute bucket (and to the trailing sums when `metric` is counted). All or
   * nothing: the only thing that can throw, a new page, is made before anything is written.
   */
  countMinute(at: number, metric: number, n: number): void {
    const trail = this.trail;
    const minute = Math.floor(at / MINUTE_MS);
    // The sums move first: a later minute may recycle a page whose minutes they have yet to subtract.
    trail?.advance(minute);
    this.minutes.bump(at, metric, n);
    if (metric === Metric.counted) trail?.add(minute, n);
  }

  /** The hour bucket and the all-time total: the rest of `count`. */
  countBeyondMinutes(at: number, metric: number): void {
    this.hours.bump(at, metric);
    this.totals[metric]++;
  }

  lastHour(at: number): number {
    return this.trail?.lastHour(at) ?? 0;
  }

  lastDay(at: number): number {
    return this.trail?.lastDay(at) ?? 0;
  }

  playback(at: number, seconds: number): void {
    this.trail?.advance(Math.floor(at / MINUTE_MS));
    this.minutes.playback(at, seconds);
    this.hours.playback(at, seconds);
    this.totals[Metric.playbackCount]++;
    this.totals[SUM_WIDTH - 1] += seconds;
  }

  users(at: number, d: Uint32Array): void {
    this.tenMin.add(at, d);
    this.hourly.add(at, d);
    this.daily.add(at, d);
  }

  compact(at: number): void {
    this.trail?.advance(Math.floor(at / MINUTE_MS));
    this.minutes.compact(at);
    this.hours.compact(at);
    this.tenMin.compact(at);
    this.hourly.compact(at);
    this.daily.compact(at);
  }

  get bytes(): number {
    return this.minutes.bytes + this.hours.bytes + this.tenMin.bytes + this.hourly.bytes + this.daily.bytes;
  }
}

/** A window's figures from its summed counters (playback seconds in the last slot) and unioned registers. */
export function figuresOf(sums: Float64Array, registers: Uint8Array): WindowFigures {
  return {
    counted: sums[Metric.counted],
    duplicates: sums[Metric.duplicates],
    botImpressions: sums[Metric.botImpressions],
    clicks: sums[Metric.clicks],
    duplicateClicks: sums[Metric.duplicateClicks],
    botClicks: sums[Metric.botClicks],
    playbackCount: sums[Metric.playbackCount],
    playbackSeconds: sums[SUM_WIDTH - 1],
    uniqueUsers: estimate(registers),
  };
}

export function captureStats(s: Stats): StatsImage {
  return {
    id: s.id,
    totals: s.totals.slice(),
    minutes: s.minutes.capture(),
    hours: s.hours.capture(),
    tenMin: s.tenMin.capture(),
    hourly: s.hourly.capture(),
    daily: s.daily.capture(),
  };
}

export function loadStats(target: Stats, im: StatsImage): void {
  target.totals.set(im.totals);
  target.minutes.load(im.minutes);
  target.hours.load(im.hours);
  target.tenMin.load(im.tenMin);
  target.hourly.load(im.hourly);
  target.daily.load(im.daily);
}

export type SketchImage = ReturnType<SketchTier['capture']>;

export interface StatsImage {
  readonly id: string;
  readonly totals: Float64Array;
  readonly minutes: TierImage;
  readonly hours: TierImage;
  readonly tenMin: SketchImage;
  readonly hourly: SketchImage;
  readonly daily: SketchImage;
}

