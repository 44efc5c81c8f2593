import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  DEFAULT_ANALYTICS,
  type AdInfo,
  type AdPage,
  type AdRegistration,
  type AdTotals,
  type AnalyticsEvent,
  type AnalyticsOptions,
  type AnalyticsReport,
  type AnalyticsSpan,
  type AnalyticsWindow,
  type SeriesAnswer,
  type SeriesQuery,
} from '../../actors/analytics-protocol.js';
import type { Reply } from '../../actors/protocol.js';
import type { ForwardResult } from '../../actors/registry/registry.js';
import { AppError, CampaignNotFoundError, OverBudgetError, UnavailableError } from '../errors.js';
import type { RegistryClient } from '../registry-client.js';
import { CAMPAIGNS_PER_REQUEST } from './campaigns.js';
import { spanOf } from '../../actors/counting/stats.js';

/**
 * Campaigns a walk over all of them asks before it gives the event loop a turn. Their actors answer
 * without I/O, so a walk would otherwise hold the loop to the end: 5,000 campaigns held /healthz
 * for 40 ms, and a million would hold it for seconds.
 */
const WALK_PAGE = 250;

/** Analytics settings: what the campaign actors get, plus how far a click's timestamp may stray. */
export interface AnalyticsConfig extends AnalyticsOptions {
  readonly clickMaxSkewMs: number;
}

export const DEFAULT_ANALYTICS_CONFIG: AnalyticsConfig = { ...DEFAULT_ANALYTICS, clickMaxSkewMs: 3_600_000 };

export interface NewAd {
  readonly id?: string;
  readonly name: string;
  readonly imageUrl: string;
  readonly targetUrl: string;
}

export class AdConflictError extends AppError {
  constructor(campaignId: string, adId: string) {
    super(409, `ad ${JSON.stringify(adId)} already exists in campaign ${JSON.stringify(campaignId)} with other metadata`);
  }
}

export class AdLimitError extends AppError {
  constructor(campaignId: string, limit: number) {
    super(409, `campaign ${JSON.stringify(campaignId)} already has ${limit} ads, the most ANALYTICS_MAX_ADS allows`);
  }
}

export class AnalyticsUnsupportedError extends AppError {
  constructor() {
    super(501, 'the configured store does not keep these figures');
  }
}

/** One ad across campaigns, with its all-time figures summed over them. */
export interface AdAcross {
  readonly adId: string;
  readonly campaigns: number;
  readonly impressions: number;
  readonly clicks: number;
  readonly playbackCount: number;
  readonly playbackSeconds: number;
}

/** A position in the list of every ad: a campaign's position and an ad's position within it. */
export interface AdCursor {
  readonly campaign: number;
  readonly ad: number;
}

/**
 * Ads, analytics windows and series. Every call is one message to a campaign actor through the
 * registry (`campaign.forward`), answered from that actor's buckets.
 */
export class Analytics {
  constructor(
    private readonly client: RegistryClient,
    readonly config: AnalyticsConfig = DEFAULT_ANALYTICS_CONFIG,
  ) {}

  now(): number {
    return this.client.now();
  }

  async registerAd(campaignId: string, ad: NewAd): Promise<{ ad: AdInfo; created: boolean }> {
    const info: AdInfo = { id: ad.id ?? this.client.newId(), name: ad.name, imageUrl: ad.imageUrl, targetUrl: ad.targetUrl, createdAt: this.client.now() };
    this.client.admit();
    const result = await this.forward<AdRegistration>(campaignId, (reply) => ({ type: 'ads.register', ad: info, reply }));
    if (result === 'conflict') throw new AdConflictError(campaignId, info.id);
    if (result === 'limit') throw new AdLimitError(campaignId, this.config.maxAds);
    if (result === 'over_budget') throw new OverBudgetError(`a new ad in campaign ${JSON.stringify(campaignId)}`);
    if (result === 'created') await this.client.durable();
    else return { ad: (await this.listCampaignAds(campaignId, 0, this.config.maxAds)).ads.find((a) => a.id === info.id) ?? info, created: false };
    return { ad: info, created: true };
  }

  listCampaignAds(campaignId: string, after: number, limit: number): Promise<AdPage> {
    return this.forward<AdPage>(campaignId, (reply) => ({ type: 'ads.list', after, limit, reply }));
  }

  /** One page of every campaign's ads, in campaign order then registration order. */
  async listAllAds(from: AdCursor, limit: number): Promise<{ ads: (AdInfo & { campaignId: string })[]; next?: AdCursor }> {
    const ads: (AdInfo & { campaignId: string })[] = [];
    let position = from.campaign;
    let after = from.ad;
    for (;;) {
      // Looked at enough campaigns for one request: a short page (perhaps empty) says where to go on.
      if (position - from.campaign >= CAMPAIGNS_PER_REQUEST) return { ads, next: { campaign: position, ad: 0 } };
      if (position > from.campaign) await nextTurn();
      const page = await this.client.listCampaigns(position, Math.min(WALK_PAGE, from.campaign + CAMPAIGNS_PER_REQUEST - position));
      for (let i = 0; i < page.campaigns.length; i++) {
        const campaign = page.campaigns[i];
        const got = await this.forward<AdPage>(campaign.id, (reply) => ({ type: 'ads.list', after, limit: limit - ads.length, reply }));
        for (const ad of got.ads) ads.push({ ...ad, campaignId: campaign.id });
        if (got.next !== undefined) return { ads, next: { campaign: position, ad: got.next } };
        position++;
        after = 0;
        if (ads.length >= limit) {
          const more = i + 1 < page.campaigns.length || page.next !== undefined;
          return { ads, next: more ? { campaign: position, ad: 0 } : undefined };
        }
      }
      if (page.next === undefined) return { ads };
    }
  }

  /**
   * Clicks and impressions per ad id read at `at`, summed across campaigns (or within `campaignId`'s):
   * over `span`, or else all-time less the minutes from `before` on; most clicked first, then by ad id.
   * Ads with neither impressions nor clicks there are left out, and `campaigns` counts those with some.
   */
  async adsAcrossCampaigns(at = this.client.now(), span?: AnalyticsSpan, before?: number, campaignId?: string): Promise<AdAcross[]> {
    const byAd = new Map<string, { campaigns: number; impressions: number; clicks: number; playbackCount: number; playbackSeconds: number }>();
    const add = async (id: string): Promise<void> => {
      const rows = await this.forward<AdTotals[]>(id, (reply) => ({ type: 'ads.totals', at, span, before, reply }), at);
      for (const r of rows) {
        // A row with nothing in the range is left out: so is a row made after a ranking's snapshot.
        if (r.counted === 0 && r.clicks === 0) continue;
        const sum = byAd.get(r.adId) ?? { campaigns: 0, impressions: 0, clicks: 0, playbackCount: 0, playbackSeconds: 0 };
        sum.campaigns++;
        sum.impressions += r.counted;
        sum.clicks += r.clicks;
        sum.playbackCount += r.playbackCount;
        sum.playbackSeconds += r.playbackSeconds;
        byAd.set(r.adId, sum);
      }
    };
    if (campaignId !== undefined) await add(campaignId);
    else {
      for (let position = 0; ; ) {
        const page = await this.client.listCampaigns(position, WALK_PAGE);
        for (const campaign of page.campaigns) await add(campaign.id);
        if (page.next === undefined) break;
        position = page.next;
        await nextTurn();
      }
    }
    return [...byAd].map(([adId, s]) => ({ adId, ...s })).sort((a, b) => b.clicks - a.clicks || (a.adId < b.adId ? -1 : 1));
  }

  /** The figures of `window` ending at `at` (or of a span read at `at`), campaign-wide and optionally per ad. */
  report(campaignId: string, what: AnalyticsWindow | AnalyticsSpan, byAd: boolean, at = this.client.now()): Promise<AnalyticsReport> {
    const span = spanOf(at, what);
    return this.forward<AnalyticsReport>(campaignId, (reply) => ({ type: 'analytics', at, span, byAd, reply }), at);
  }

  series(campaignId: string, query: SeriesQuery, at: number): Promise<SeriesAnswer> {
    return this.forward<SeriesAnswer>(campaignId, (reply) => ({ type: 'series', at, query, reply }), at);
  }

  private async forward<T>(campaignId: string, message: (reply: Reply<T | undefined>) => AnalyticsEvent, at = this.client.now()): Promise<T> {
    const result: ForwardResult = await this.client.forward(campaignId, at, message as (reply: Reply<any>) => AnalyticsEvent);
    if ('value' in result) return result.value as T;
    if (result.error === 'not_found') throw new CampaignNotFoundError(campaignId);
    if (result.error === 'unsupported') throw new AnalyticsUnsupportedError();
    throw new UnavailableError(`campaign ${JSON.stringify(campaignId)} is restarting; retry shortly`, result.retryAfterMs);
  }
}

/** The analytics settings of a loaded configuration. */
export function analyticsConfig(config: {
  readonly analyticsMaxAds: number;
  readonly clickDedupTtlMs: number;
  readonly clickMaxSkewMs: number;
  readonly seriesMinuteRetentionMs: number;
  readonly seriesHourRetentionMs: number;
  readonly seriesDayRetentionMs: number;
}): AnalyticsConfig {
  return {
    maxAds: config.analyticsMaxAds,
    clickTtlMs: config.clickDedupTtlMs,
    clickMaxSkewMs: config.clickMaxSkewMs,
    minuteRetentionMs: config.seriesMinuteRetentionMs,
    hourRetentionMs: config.seriesHourRetentionMs,
    dayRetentionMs: config.seriesDayRetentionMs,
  };
}
