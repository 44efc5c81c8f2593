import { SeriesSource, type SeriesQuery } from '../actors/analytics-protocol.js';
import type { AnalyticsConfig } from './use-cases/analytics.js';
import type { Zone } from './calendar.js';
import { ValidationError } from './errors.js';

export type Interval = 'minute' | 'hour' | 'day';

/**
 * Most buckets one time series may span (as minutes, hours or 24-hour days from its first bucket's
 * start). Each local bucket costs ~25 µs of CPU here (Intl calls for its edges and its offset), so
 * this keeps the worst request near 25 ms; a local day shortened by DST may add one bucket.
 */
export const MAX_BUCKETS = 1000;

const MINUTE_MS = 60_000;
const QUARTER_MS = 15 * MINUTE_MS;
const DAY_MS = 86_400_000;

/** A bucket's nominal length: the series limit is a span of MAX_BUCKETS of these. */
const NOMINAL_MS: Record<Interval, number> = { minute: MINUTE_MS, hour: 3_600_000, day: DAY_MS };

export interface SeriesPlan {
  readonly query: SeriesQuery;
  /** Where each bucket starts, as shown (a local day's start even when it is read from a UTC day). */
  readonly shown: number[];
  /** Buckets answered from UTC days because their quarter hours are past retention. */
  readonly approximate: boolean[];
}

/**
 * The buckets of a time series in `zone` covering [from, to): the bucket containing `from` first,
 * then every bucket starting before `to`. Minute buckets come from the minute tier; hour buckets and
 * day buckets from quarter hours (so local hours and days are exact in every zone, DST included);
 * day buckets older than the quarter-hour retention come from UTC days (exact when the local day is
 * a UTC day, otherwise the UTC day of the same date, flagged approximate). Asking for minutes or
 * hours older than their retention is a 400.
 */
export function planSeries(interval: Interval, from: number, to: number, zone: Zone, now: number, config: AnalyticsConfig): SeriesPlan {
  if (!(from < to)) throw new ValidationError('query "from" must be before "to"');
  const minuteRetained = (Math.floor(now / MINUTE_MS) - Math.ceil(config.minuteRetentionMs / MINUTE_MS) + 1) * MINUTE_MS;
  const quarterRetained = (Math.floor(now / QUARTER_MS) - Math.ceil(config.hourRetentionMs / QUARTER_MS) + 1) * QUARTER_MS;
  const dayRetained = Number.isFinite(config.dayRetentionMs) ? (Math.floor(now / DAY_MS) - Math.ceil(config.dayRetentionMs / DAY_MS) + 1) * DAY_MS : -Infinity;

  const first = interval === 'minute' ? Math.floor(from / MINUTE_MS) * MINUTE_MS : interval === 'hour' ? zone.startOfHour(from) : zone.startOfDay(from);
  if (interval === 'minute' && first < minuteRetained) throw retention('minute', config.minuteRetentionMs, minuteRetained, zone);
  if (interval === 'hour' && first < quarterRetained) throw retention('hour', config.hourRetentionMs, quarterRetained, zone);
  if (interval === 'day' && first < dayRetained) throw retention('day', config.dayRetentionMs, dayRetained, zone);
  // Every check is done before any bucket is planned, so a refused request costs next to nothing; the
  // limit is on the span, in nominal minutes, hours or days, from the first bucket's start.
  if (to - first > MAX_BUCKETS * NOMINAL_MS[interval]) throw tooMany(interval);

  const starts: number[] = [];
  const ends: number[] = [];
  const sources: number[] = [];
  const approximate: boolean[] = [];
  const shown: number[] = [];
  // A short local day or hour (DST) fits an extra bucket in the span, never more than two in all: the
  // loop below stops there even should the calendar misbehave, so a request costs what its span says.
  const most = Math.ceil((to - first) / NOMINAL_MS[interval]) + 2;
  const push = (s: number, e: number, source: number, approx: boolean, display = s): void => {
    if (starts.length >= most) throw tooMany(interval);
    starts.push(s);
    ends.push(e);
    sources.push(source);
    approximate.push(approx);
    shown.push(display);
  };

  if (interval === 'minute') {
    for (let s = first; s < to; s += MINUTE_MS) push(s, s + MINUTE_MS, SeriesSource.minute, false);
  } else if (interval === 'hour') {
    for (let s = first; s < to; ) {
      const e = zone.nextHour(s);
      push(s, e, SeriesSource.quarterHour, false);
      s = e;
    }
  } else {
    for (let s = first; s < to; ) {
      const e = zone.nextDay(s);
      if (s >= quarterRetained && s % QUARTER_MS === 0 && e % QUARTER_MS === 0) {
        push(s, e, SeriesSource.quarterHour, false);
      } else {
        // The UTC day with the same calendar date as the local day.
        const l = zone.local(s + 12 * 3_600_000);
        const utc = Date.UTC(l.year, l.month - 1, l.day);
        push(utc, utc + DAY_MS, SeriesSource.utcDay, !(utc === s && e === utc + DAY_MS), s);
      }
      s = e;
    }
  }
  return { query: { starts: Float64Array.from(starts), ends: Float64Array.from(ends), sources: Uint8Array.from(sources) }, shown, approximate };
}

function tooMany(interval: Interval): ValidationError {
  return new ValidationError(`the series would have more than ${MAX_BUCKETS} ${interval} buckets; narrow from/to or use a coarser interval`);
}

function retention(interval: Interval, kept: number, since: number, zone: Zone): ValidationError {
  return new ValidationError(
    `${interval} buckets are kept for ${human(kept)}; "from" must be at or after ${zone.format(since)} (use a coarser interval for older data)`,
  );
}

function human(ms: number): string {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS} days` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${ms / MINUTE_MS} min`;
}
