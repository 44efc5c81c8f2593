import { estimate } from './hll.js';
import type { AnalyticsWindow, WindowFigures } from './analytics-values.js';
import { DAY_MS, FULL, Metric, SketchTier, SUM_WIDTH, Tier, type TierImage } from './tiers.js';

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

/**
 * Counters and distinct-user sketches in ring-paged buckets: the whole campaign's (which keeps minute
 * buckets as long as its time series needs them), or a busy ad row's (see ad-row.ts). A page holds an
 * hour of minutes, so this form pays off once a row has traffic in most minutes.
 */
export class Stats {
  readonly minutes: Tier;
  readonly hours = new Tier(FULL, HOUR_MS, 24, 720);
  readonly tenMin: SketchTier;
  readonly hourly: SketchTier;
  readonly daily: SketchTier;
  /** All-time counters then playback seconds (SUM_WIDTH values). */
  readonly totals = new Float64Array(SUM_WIDTH);
  constructor(
    readonly id: string,
    readonly p = AD_HLL_P,
    minutes = 1440,
  ) {
    this.minutes = new Tier(FULL, MINUTE_MS, 60, minutes);
    this.tenMin = new SketchTier(p, TEN_MINUTES_MS, 36);
    this.hourly = new SketchTier(p, HOUR_MS, 24);
    this.daily = new SketchTier(p, DAY_MS, 30);
  }

  /** The figures of `window` ending at `at`: O(buckets in the window), whatever the traffic. */
  figures(at: number, window: AnalyticsWindow): WindowFigures {
    const w = WINDOWS[window];
    const sums = new Float64Array(SUM_WIDTH);
    const now = Math.floor(at / BUCKET_MS[w.counters]);
    this[w.counters].sum(now - w.count + 1, now, now, sums);
    const registers = new Uint8Array(1 << this.p);
    const sketchNow = Math.floor(at / BUCKET_MS[w.sketch]);
    this[w.sketch].unionInto(sketchNow - w.sketches + 1, sketchNow, sketchNow, registers);
    return figuresOf(sums, registers);
  }

  count(at: number, metric: number): void {
    this.minutes.bump(at, metric);
    this.hours.bump(at, metric);
    this.totals[metric]++;
  }

  playback(at: number, seconds: number): void {
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

