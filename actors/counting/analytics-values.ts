/**
 * The values of a campaign's analytics (ads, clicks, windows, time series) and the facts they
 * journal: plain data the counting structures work on. The actors' messages (analytics-protocol.ts)
 * carry them.
 */

/** An ad's metadata, as registered. Impressions and clicks may name ads never registered. */
export interface AdInfo {
  readonly id: string;
  readonly name: string;
  readonly imageUrl: string;
  readonly targetUrl: string;
  readonly createdAt: number;
}

/** One click as received, stamped at the edge. */
export interface Click {
  readonly campaignId: string;
  readonly adId: string;
  readonly userId?: string;
  readonly ipAddress?: string;
  /** Seconds of playback the click reports, if any. */
  readonly playbackTime?: number;
  /** When the click happened (its timestamp, never later than the time it was received). */
  readonly at: number;
  /** Its user agent is on the bot list: not counted, reported as bot_filtered. */
  readonly bot?: boolean;
  /** Idempotency key: a retry with the same id within a day (of arrival) returns the first outcome. */
  readonly clickId?: string;
}

/** `replayed_*`: a retry of a click id seen in the last day, answered with its first outcome and not counted again. */
export type ClickOutcome = 'counted' | 'duplicate' | 'replayed_counted' | 'replayed_duplicate' | 'bot_filtered' | 'not_started' | 'not_found' | 'unavailable' | 'over_budget';

export const ANALYTICS_WINDOWS = ['1h', '6h', '24h', '7d', '30d'] as const;
export type AnalyticsWindow = (typeof ANALYTICS_WINDOWS)[number];

/** What happened in a window: counters, playback, and the estimated distinct users counted. */
export interface WindowFigures {
  readonly counted: number;
  readonly duplicates: number;
  readonly botImpressions: number;
  readonly clicks: number;
  readonly duplicateClicks: number;
  readonly botClicks: number;
  readonly playbackCount: number;
  readonly playbackSeconds: number;
  readonly uniqueUsers: number;
}

/**
 * The buckets a read sums: counters per minute or hour, and distinct users from sketches per 10
 * minutes, hour or UTC day; both as inclusive ranges of bucket numbers counted from the epoch. A
 * trailing window and a from/to range both become one (see stats.ts).
 */
export interface AnalyticsSpan {
  readonly counters: 'minutes' | 'hours';
  readonly from: number;
  readonly to: number;
  readonly sketch: 'tenMin' | 'hourly' | 'daily';
  readonly sketchFrom: number;
  readonly sketchTo: number;
}

export interface AnalyticsReport {
  readonly campaign: WindowFigures;
  /** Per ad (first seen first, `(other)` last), when asked for. */
  readonly ads?: readonly { readonly adId: string; readonly figures: WindowFigures }[];
}

/** Where a time-series bucket's figures come from. */
export const SeriesSource = { minute: 0, quarterHour: 1, utcDay: 2 } as const;
export type SeriesSourceCode = (typeof SeriesSource)[keyof typeof SeriesSource];

/** Buckets [starts[i], ends[i]) in epoch ms, each summed from `sources[i]`'s buckets starting inside it. */
export interface SeriesQuery {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly sources: Uint8Array;
}

export interface SeriesAnswer {
  readonly impressions: Float64Array;
  readonly clicks: Float64Array;
}

export type AdRegistration = 'created' | 'exists' | 'conflict' | 'limit' | 'over_budget';

export interface AdPage {
  readonly ads: AdInfo[];
  /** Position of the next ad, absent on the last page. */
  readonly next?: number;
}

/** All-time figures of one ad in one campaign. */
export interface AdTotals {
  readonly adId: string;
  readonly counted: number;
  readonly clicks: number;
  readonly playbackCount: number;
  readonly playbackSeconds: number;
}

/** How an impression was tallied, in a `tallied` journal fact. */
export const TallyCode = { counted: 1, duplicate: 2, bot: 3 } as const;

/** One click as journaled. */
export interface ClickFact {
  readonly at: number;
  readonly adId: string;
  readonly outcome: 'counted' | 'duplicate' | 'bot_filtered';
  readonly playbackTime: number | undefined;
  /** The click-dedupe digest of a counted click, when click dedupe is on and the click had a key. */
  readonly digest: Uint32Array | undefined;
  /** The digest of its click id and when it arrived (the idempotency window runs from arrival), if it had one. */
  readonly clickId?: { readonly digest: Uint32Array; readonly at: number };
}

/** The journal facts analytics adds (optional on a JournalSink, so older sinks keep working). */
export interface AnalyticsJournal {
  /** An `impressions` message starts: its tally, journaled when it ends, goes before its other facts. */
  beginMessage(): void;
  adRegistered(campaignId: string, ad: AdInfo): void;
  /**
   * The impressions of one message, in order: `items` holds 3 bytes per impression, a little-endian
   * u16 index into `ads[0..adCount)` and a TallyCode. The counted ones are the message's `counted`
   * facts, in the same order (journaled after the tally when the sink can put it first, else before).
   * `times`, when some impression happened before the message's `at`, holds each one's time.
   */
  tallied(campaignId: string, at: number, ads: readonly string[], adCount: number, items: Uint8Array, times?: Float64Array): void;
  clicked(campaignId: string, facts: readonly ClickFact[]): void;
}

/** Analytics limits and retention, given to each campaign actor. */
export interface AnalyticsOptions {
  /** Distinct ads with their own figures per campaign; later ones share the `(other)` row. */
  readonly maxAds: number;
  /** Repeated clicks of one user (or IP) on one ad within this are duplicates; 0: off. */
  readonly clickTtlMs: number;
  readonly minuteRetentionMs: number;
  readonly hourRetentionMs: number;
  /** Infinity: forever. */
  readonly dayRetentionMs: number;
}

export const DEFAULT_ANALYTICS: AnalyticsOptions = {
  maxAds: 1000,
  clickTtlMs: 0,
  minuteRetentionMs: 48 * 3_600_000,
  hourRetentionMs: 90 * 86_400_000,
  dayRetentionMs: Infinity,
};

/** The row that gathers ads beyond `maxAds`. */
export const OTHER_AD = '(other)';
