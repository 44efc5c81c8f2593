import type { Reply } from './ask.js';
import type { AdInfo, AdPage, AdRegistration, AdTotals, AnalyticsReport, AnalyticsSpan, Click, ClickOutcome, SeriesAnswer, SeriesQuery } from './counting/analytics-values.js';

/**
 * Messages of the campaign actors' analytics (ads, clicks, windows, time series). Kept beside
 * protocol.ts, which folds these events into CampaignEvent. The values they carry are the counting
 * leaf's, re-exported here for the actors' users.
 */
export * from './counting/analytics-values.js';
/** What a span's tiers are (their bucket sizes) and which span a window reads at a time. */
export { BUCKET_MS, spanOf } from './counting/stats.js';

export type AnalyticsEvent =
  | { readonly type: 'ads.register'; readonly ad: AdInfo; readonly reply: Reply<AdRegistration | undefined> }
  | { readonly type: 'ads.list'; readonly after: number; readonly limit: number; readonly reply: Reply<AdPage | undefined> }
  | {
      readonly type: 'ads.totals';
      /** The read time (retention is judged against it). */
      readonly at: number;
      /**
       * Per row: the figures of `span` when given; else all-time figures less those of the minutes
       * from `before` (a minute boundary) on, so that a ranking can be read again later unchanged.
       */
      readonly span?: AnalyticsSpan;
      readonly before?: number;
      readonly reply: Reply<AdTotals[] | undefined>;
    }
  | {
      readonly type: 'clicks';
      /** When the batch was received: retention and "not yet started" are judged against it. */
      readonly now: number;
      readonly items: readonly Click[];
      /** One outcome per item, preset `unavailable`; answered (also after a crash) through `reply`. */
      readonly out: ClickOutcome[];
      readonly reply: Reply<ClickOutcome[] | undefined>;
    }
  | { readonly type: 'analytics'; readonly at: number; readonly span: AnalyticsSpan; readonly byAd: boolean; readonly reply: Reply<AnalyticsReport | undefined> }
  | { readonly type: 'series'; readonly at: number; readonly query: SeriesQuery; readonly reply: Reply<SeriesAnswer | undefined> };
