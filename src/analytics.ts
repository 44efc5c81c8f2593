import { randomUUID } from 'node:crypto';
import { ask, AskTimeoutError } from '../actors/ask.js';
import type { Clock } from '../actors/counting/clock.js';
import {
  DEFAULT_ANALYTICS,
  type AdInfo,
  type AdPage,
  type AdRegistration,
  type AdTotals,
  type AnalyticsEvent,
  type AnalyticsOptions,
  type AnalyticsReport,
  type AnalyticsWindow,
  type Click,
  type ClickOutcome,
  type SeriesAnswer,
  type SeriesQuery,
} from '../actors/analytics-protocol.js';
import { recorded, type RecordsFailure, type Reply } from '../actors/protocol.js';
import type { CampaignPage, ForwardResult, RegistryEvent, RegistryRef } from '../actors/registry/registry.js';
import type { Durability } from './durability.js';
import { AppError, CampaignNotFoundError, OverBudgetError, UnavailableError } from './errors.js';

/** Analytics settings: what the campaign actors get, plus how far a click's timestamp may stray. */
export interface AnalyticsConfig extends AnalyticsOptions {
  readonly clickMaxSkewMs: number;
}

export const DEFAULT_ANALYTICS_CONFIG: AnalyticsConfig = { ...DEFAULT_ANALYTICS, clickMaxSkewMs: 3_600_000 };

export interface AnalyticsDeps {
  readonly registry: RegistryRef;
  readonly clock: Clock;
  readonly askTimeoutMs: number;
  readonly newId?: () => string;
  readonly durability?: Durability;
  readonly analytics?: AnalyticsConfig;
}

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
 * The analytics side of the façade: ads, clicks, windows and series. Every call is one message to a
 * campaign actor through the registry (`campaign.forward`), answered from that actor's buckets.
 */
export class AnalyticsFacade {
  readonly config: AnalyticsConfig;
  private readonly registry: RegistryRef;
  private readonly clock: Clock;
  private readonly timeout: number;
  private readonly newId: () => string;
  private readonly durability: AnalyticsDeps['durability'];

  constructor(deps: AnalyticsDeps) {
    this.config = deps.analytics ?? DEFAULT_ANALYTICS_CONFIG;
    this.registry = deps.registry;
    this.clock = deps.clock;
    this.timeout = deps.askTimeoutMs;
    this.newId = deps.newId ?? randomUUID;
    this.durability = deps.durability;
  }

  now(): number {
    return this.clock.now();
  }

  async registerAd(campaignId: string, ad: NewAd): Promise<{ ad: AdInfo; created: boolean }> {
    const info: AdInfo = { id: ad.id ?? this.newId(), name: ad.name, imageUrl: ad.imageUrl, targetUrl: ad.targetUrl, createdAt: this.clock.now() };
    this.admit();
    const result = await this.forward<AdRegistration>(campaignId, (reply) => ({ type: 'ads.register', ad: info, reply }));
    if (result === 'conflict') throw new AdConflictError(campaignId, info.id);
    if (result === 'limit') throw new AdLimitError(campaignId, this.config.maxAds);
    if (result === 'over_budget') throw new OverBudgetError(`a new ad in campaign ${JSON.stringify(campaignId)}`);
    if (result === 'created') await this.durability?.durable();
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
      const page = await this.listCampaigns(position);
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

  /** All-time clicks and impressions per ad id, summed across campaigns; most clicked first. */
  async adsAcrossCampaigns(): Promise<AdAcross[]> {
    const byAd = new Map<string, { campaigns: number; impressions: number; clicks: number; playbackCount: number; playbackSeconds: number }>();
    let position = 0;
    for (;;) {
      const page = await this.listCampaigns(position);
      for (const campaign of page.campaigns) {
        const rows = await this.forward<AdTotals[]>(campaign.id, (reply) => ({ type: 'ads.totals', reply }));
        for (const r of rows) {
          const sum = byAd.get(r.adId) ?? { campaigns: 0, impressions: 0, clicks: 0, playbackCount: 0, playbackSeconds: 0 };
          sum.campaigns++;
          sum.impressions += r.counted;
          sum.clicks += r.clicks;
          sum.playbackCount += r.playbackCount;
          sum.playbackSeconds += r.playbackSeconds;
          byAd.set(r.adId, sum);
        }
      }
      if (page.next === undefined) break;
      position = page.next;
    }
    return [...byAd].map(([adId, s]) => ({ adId, ...s })).sort((a, b) => b.clicks - a.clicks || (a.adId < b.adId ? -1 : 1));
  }

  /**
   * The time a click is counted at: its timestamp when within CLICK_MAX_SKEW of now (a future one is
   * taken as now), otherwise a ValidationError message.
   */
  clickTime(timestamp: number | undefined, now: number): number | string {
    if (timestamp === undefined) return now;
    const skew = this.config.clickMaxSkewMs;
    if (Math.abs(timestamp - now) > skew) {
      return `field "timestamp" is ${timestamp < now ? 'older' : 'later'} than the allowed skew of ${skew / 1000} s from the server's clock (CLICK_MAX_SKEW)`;
    }
    return Math.min(timestamp, now);
  }

  /** Records clicks (grouped so each campaign gets one message); one outcome per item, in order. */
  async recordClicks(items: readonly Click[], now: number): Promise<{ outcomes: ClickOutcome[]; retryAfterMs: number }> {
    this.admit();
    const groups = new Map<string, number[]>();
    items.forEach((c, i) => {
      const g = groups.get(c.campaignId);
      if (g === undefined) groups.set(c.campaignId, [i]);
      else g.push(i);
    });
    const outcomes = new Array<ClickOutcome>(items.length).fill('unavailable');
    let retryAfterMs = 0;
    await Promise.all(
      [...groups].map(async ([campaignId, indices]) => {
        const group = indices.map((i) => items[i]);
        const result = await this.forwardRaw((reply) => ({ type: 'clicks', now, items: group, out: new Array<ClickOutcome>(group.length).fill('unavailable'), reply }), campaignId, now);
        if ('value' in result) (result.value as ClickOutcome[]).forEach((o, k) => (outcomes[indices[k]] = o));
        else if (result.error === 'not_found') for (const i of indices) outcomes[i] = 'not_found';
        else if (result.error === 'unsupported') throw new AnalyticsUnsupportedError();
        else retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
      }),
    );
    await this.durability?.durable();
    return { outcomes, retryAfterMs };
  }

  report(campaignId: string, window: AnalyticsWindow, byAd: boolean): Promise<AnalyticsReport> {
    const at = this.clock.now();
    return this.forward<AnalyticsReport>(campaignId, (reply) => ({ type: 'analytics', at, window, byAd, reply }), at);
  }

  series(campaignId: string, query: SeriesQuery, at: number): Promise<SeriesAnswer> {
    return this.forward<SeriesAnswer>(campaignId, (reply) => ({ type: 'series', at, query, reply }), at);
  }

  private async listCampaigns(after: number): Promise<CampaignPage> {
    return recorded(await this.ask<CampaignPage | RecordsFailure>((reply) => ({ type: 'campaign.list', after, limit: 1000, reply })));
  }

  /** Backpressure: refuse new work while the journal cannot take it. */
  private admit(): void {
    this.durability?.admit();
  }

  private async forward<T>(campaignId: string, message: (reply: Reply<T | undefined>) => AnalyticsEvent, at = this.clock.now()): Promise<T> {
    const result = await this.forwardRaw(message as (reply: Reply<any>) => AnalyticsEvent, campaignId, at);
    if ('value' in result) return result.value as T;
    if (result.error === 'not_found') throw new CampaignNotFoundError(campaignId);
    if (result.error === 'unsupported') throw new AnalyticsUnsupportedError();
    throw new UnavailableError(`campaign ${JSON.stringify(campaignId)} is restarting; retry shortly`, result.retryAfterMs);
  }

  private forwardRaw(message: (reply: Reply<any>) => AnalyticsEvent, id: string, at: number): Promise<ForwardResult> {
    return this.ask<ForwardResult>((reply) => ({ type: 'campaign.forward', id, at, message, reply }));
  }

  private async ask<T>(build: (reply: Reply<T>) => RegistryEvent): Promise<T> {
    try {
      return await ask(this.registry, build, this.timeout);
    } catch (err) {
      if (err instanceof AskTimeoutError) throw new UnavailableError('the counter did not answer in time; retry shortly', 1000);
      throw err;
    }
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
