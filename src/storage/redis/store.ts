import { Cluster } from 'ioredis';
import {
  BUCKET_MS,
  DEFAULT_ANALYTICS,
  spanOf,
  type AdInfo,
  type AdPage,
  type AdRegistration,
  type AdTotals,
  type AnalyticsOptions,
  type AnalyticsReport,
  type AnalyticsSpan,
  type AnalyticsWindow,
  type Click,
  type ClickOutcome,
  type SeriesAnswer,
  type SeriesQuery,
  type WindowFigures,
} from '../../../actors/analytics-protocol.js';
import type { CampaignInfo, CampaignStore, ImpressionGroup, Outcome, Stats } from '../../../actors/protocol.js';
import { RedisConnection, type RedisConnectionOptions } from './connection.js';
import { RedisDirectory, type CampaignDirectory } from './directory.js';

export interface RedisStoreOptions extends RedisConnectionOptions {
  /** DEDUP_TTL. */
  readonly ttlMs: number;
  /** How long an `impression_id` is remembered: the campaign actor's own window (24 h when absent). */
  readonly idempotencyTtlMs?: number;
  /** CLICK_DEDUP_TTL (0 or absent: off). */
  readonly clickTtlMs?: number;
  /** ANALYTICS_MAX_ADS: ads with figures of their own per campaign; later ones share `(other)` (default 1,000). */
  readonly maxAds?: number;
  /** How long minute, hour and day series buckets are read (SERIES_*_RETENTION). */
  readonly retention?: Pick<AnalyticsOptions, 'minuteRetentionMs' | 'hourRetentionMs' | 'dayRetentionMs'>;
}

/**
 * Dedupe and idempotency keys outlive their window by this much. The scripts decide with the
 * caller's clock (the stored time), never with key expiry, which runs on Redis's clock: the margin
 * only has to cover the skew between the two, and frees the memory soon after.
 */
const EXPIRY_MARGIN_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Values per row in the analytics script's answer. */
const FIGURES = 9;

function figuresOf(reply: readonly (number | string)[], i: number): WindowFigures {
  const n = (k: number): number => Number(reply[i + k]);
  return {
    counted: n(0),
    duplicates: n(1),
    botImpressions: n(2),
    clicks: n(3),
    duplicateClicks: n(4),
    botClicks: n(5),
    playbackCount: n(6),
    playbackSeconds: n(7),
    uniqueUsers: n(8),
  };
}

/** The hash (counters) or HyperLogLog (sketches) key prefix of each bucket tier (memory mode's tiers, actors/counting/stats.ts). */
const TIER_KEYS = { minutes: 'am', hours: 'ah', tenMin: 'hm', hourly: 'hh', daily: 'hd' } as const;

/** The analytics script's arguments for a span: each tier's last bucket's start, bucket size and bucket count. */
function spanArgs(span: AnalyticsSpan): (string | number)[] {
  const size = BUCKET_MS[span.counters];
  const ssize = BUCKET_MS[span.sketch];
  return [span.to * size, TIER_KEYS[span.counters], size, Math.max(0, span.to - span.from + 1), TIER_KEYS[span.sketch], ssize, Math.max(0, span.sketchTo - span.sketchFrom + 1)];
}

const OUTCOMES: Readonly<Record<string, Outcome>> = { c: 'counted', d: 'duplicate', C: 'replayed_counted', D: 'replayed_duplicate', s: 'not_started', b: 'bot_filtered' };
const CLICK_OUTCOMES: Readonly<Record<string, ClickOutcome>> = { c: 'counted', d: 'duplicate', C: 'replayed_counted', D: 'replayed_duplicate', s: 'not_started', b: 'bot_filtered' };

/**
 * Dedupe windows and counters in Redis (or a Redis Cluster), for STORE=redis: service nodes hold no
 * counting state, so any number of them can serve the same campaigns and the counts stay exact. It
 * is the campaign actors' store (the scripts under scripts/ do the counting atomically) and, through
 * `directory`, where campaign records live.
 */
export class RedisStore extends RedisConnection implements CampaignStore, CampaignDirectory {
  /** Campaign records: create, get, list. */
  readonly directory: RedisDirectory;

  private constructor(private readonly options: RedisStoreOptions) {
    super(options);
    this.directory = new RedisDirectory(this);
  }

  /**
   * Connects. When Redis cannot be reached within `waitMs` the store still opens, unavailable
   * (answering 503), and becomes available by itself once Redis answers.
   */
  static async open(options: RedisStoreOptions, waitMs = 5000): Promise<RedisStore> {
    const store = new RedisStore(options);
    await store.connect(waitMs);
    return store;
  }

  /**
   * Which of `ids` name campaigns, as one call of the breaker (EXISTS behind the epoch guard): one
   * script for the whole batch on a single Redis, one per id, pipelined per shard, on a cluster.
   */
  async exists(ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    // On a cluster, one script per id: ioredis's cluster auto-pipelining routes a command with a
    // variable number of keys by its first argument (the key count), not by its first key, and then
    // refuses pipelines mixing nodes; and ids of a batch rarely share a slot anyway.
    if (this.client instanceof Cluster) {
      const replies = await this.call(() => Promise.all(ids.map((id) => this.scripts.icExists(this.key(id, 'c'), this.epochKey(id)))));
      return replies.map((r) => r === '1');
    }
    const reply = await this.call(() => this.scripts.icExistsMany(ids.length + 1, ...ids.map((id) => this.key(id, 'c')), this.epochKey(ids[0])));
    if (reply.length !== ids.length) throw new Error(`exists script answered ${reply.length} for ${ids.length} ids`);
    return [...reply].map((r) => r === '1');
  }

  async ingest(campaignId: string, groups: readonly ImpressionGroup[]): Promise<Outcome[]> {
    const args: (string | number)[] = [this.options.ttlMs, EXPIRY_MARGIN_MS, this.options.idempotencyTtlMs ?? DAY_MS, ...this.tallyArgs];
    let items = 0;
    for (const { at, items: group } of groups) {
      args.push(at, group.length);
      for (const item of group) args.push(item.userId, item.bot === true ? 'b' : item.impressionId === undefined ? '-' : 'i' + item.impressionId, item.adId, item.at ?? '');
      items += group.length;
    }
    const reply = await this.call(() => this.scripts.icIngest(this.key(campaignId, 'c'), this.epochKey(campaignId), ...args));
    if (reply === 'N') return new Array<Outcome>(items).fill('not_found');
    if (reply.length !== items) throw new Error(`ingest script answered ${reply.length} outcomes for ${items} items`);
    const outcomes = new Array<Outcome>(items);
    for (let k = 0; k < items; k++) outcomes[k] = OUTCOMES[reply[k]];
    return outcomes;
  }

  async stats(campaignId: string, at: number): Promise<Stats | 'not_found'> {
    const reply = await this.call(() => this.scripts.icStats(this.key(campaignId, 'c'), this.epochKey(campaignId), at));
    if (reply.length === 0) return 'not_found';
    return { lastHour: Number(reply[0]), lastDay: Number(reply[1]), total: Number(reply[2]) };
  }

  async clicks(campaignId: string, items: readonly Click[], now: number): Promise<ClickOutcome[]> {
    const args: (string | number)[] = [this.options.clickTtlMs ?? 0, EXPIRY_MARGIN_MS, this.options.idempotencyTtlMs ?? DAY_MS, now, ...this.tallyArgs];
    for (const c of items) {
      const key = c.userId !== undefined ? `u${c.userId}` : c.ipAddress !== undefined ? `i${c.ipAddress}` : '';
      args.push(c.at, c.adId, key, c.bot === true ? 1 : 0, c.playbackTime === undefined ? '' : c.playbackTime, c.clickId ?? '');
    }
    const reply = await this.call(() => this.scripts.icClicks(this.key(campaignId, 'c'), this.epochKey(campaignId), ...args));
    if (reply === 'N') return new Array<ClickOutcome>(items.length).fill('not_found');
    if (reply.length !== items.length) throw new Error(`clicks script answered ${reply.length} outcomes for ${items.length} clicks`);
    return [...reply].map((o) => CLICK_OUTCOMES[o]);
  }

  async analytics(campaignId: string, at: number, what: AnalyticsWindow | AnalyticsSpan, byAd = false): Promise<AnalyticsReport | 'not_found'> {
    const span = spanOf(at, what);
    const reply = await this.call(() => this.scripts.icAnalytics(this.key(campaignId, 'c'), this.epochKey(campaignId), ...spanArgs(span), byAd ? 1 : 0, span.sketchTo * BUCKET_MS[span.sketch]));
    if (reply.length === 0) return 'not_found';
    const campaign = figuresOf(reply, 0);
    if (!byAd) return { campaign };
    const ads: { adId: string; figures: WindowFigures }[] = [];
    for (let i = FIGURES; i < reply.length; i += FIGURES + 1) ads.push({ adId: String(reply[i]), figures: figuresOf(reply, i + 1) });
    return { campaign, ads };
  }

  async registerAd(campaignId: string, ad: AdInfo): Promise<AdRegistration | 'not_found'> {
    const reply = await this.call(() => this.scripts.icAdRegister(this.key(campaignId, 'c'), this.epochKey(campaignId), ad.id, ad.name, ad.imageUrl, ad.targetUrl, ad.createdAt, ...this.tallyArgs));
    return reply === 'N' ? 'not_found' : (reply as AdRegistration);
  }

  async listAds(campaignId: string, after: number, limit: number): Promise<AdPage | 'not_found'> {
    const reply = await this.call(() => this.scripts.icAdList(this.key(campaignId, 'c'), this.epochKey(campaignId), after, limit));
    if (reply.length === 0) return 'not_found';
    const ads: AdInfo[] = [];
    for (let i = 1; i + 1 < reply.length && ads.length < limit; i += 2) {
      const [name, imageUrl, targetUrl, createdAt] = JSON.parse(String(reply[i + 1])) as [string, string, string, number];
      ads.push({ id: String(reply[i]), name, imageUrl, targetUrl, createdAt });
    }
    return { ads, next: (reply.length - 1) / 2 > limit ? after + limit : undefined };
  }

  async adTotals(campaignId: string, at: number, span?: AnalyticsSpan, before?: number): Promise<AdTotals[] | 'not_found'> {
    if (span !== undefined) {
      const report = await this.analytics(campaignId, at, span, true);
      if (report === 'not_found') return report;
      return (report.ads ?? []).map(({ adId, figures: f }) => ({ adId, counted: f.counted, clicks: f.clicks, playbackCount: f.playbackCount, playbackSeconds: f.playbackSeconds }));
    }
    // All-time less the minute buckets from `before` through `at`'s, in the same script (one consistent read).
    const later = before === undefined || before > at ? [] : [Math.floor(before / 60_000), Math.floor(at / 60_000)];
    const reply = await this.call(() => this.scripts.icAdTotals(this.key(campaignId, 'c'), this.epochKey(campaignId), ...later));
    if (reply.length === 0) return 'not_found';
    const rows: AdTotals[] = [];
    for (let i = 1; i < reply.length; i += 5) {
      rows.push({ adId: String(reply[i]), counted: Number(reply[i + 1]), clicks: Number(reply[i + 2]), playbackCount: Number(reply[i + 3]), playbackSeconds: Number(reply[i + 4]) });
    }
    return rows;
  }

  async series(campaignId: string, at: number, query: SeriesQuery): Promise<SeriesAnswer | 'not_found'> {
    const { retention = DEFAULT_ANALYTICS } = this.options;
    const args: number[] = [
      at,
      Math.max(1440, Math.ceil(retention.minuteRetentionMs / 60_000)),
      Math.ceil(retention.hourRetentionMs / 900_000),
      Number.isFinite(retention.dayRetentionMs) ? retention.dayRetentionMs / DAY_MS : -1,
    ];
    const n = query.starts.length;
    for (let i = 0; i < n; i++) args.push(query.starts[i], query.ends[i], query.sources[i]);
    const reply = await this.call(() => this.scripts.icSeries(this.key(campaignId, 'c'), this.epochKey(campaignId), ...args));
    if (reply.length === 0) return 'not_found';
    const impressions = new Float64Array(n);
    const clicks = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      impressions[i] = Number(reply[2 * i]);
      clicks[i] = Number(reply[2 * i + 1]);
    }
    return { impressions, clicks };
  }

  create(info: CampaignInfo): Promise<CampaignInfo> {
    return this.directory.create(info);
  }

  get(id: string): Promise<CampaignInfo | undefined> {
    return this.directory.get(id);
  }

  list(after: number, limit: number): Promise<{ campaigns: CampaignInfo[]; next?: number }> {
    return this.directory.list(after, limit);
  }

  /**
   * What every tallying script takes: MAX_ADS, then how long minute, quarter-hour and UTC-day series
   * buckets are kept (0: forever), a little longer than the retention reads apply. Minute buckets
   * outlive a day whatever the retention: last_day reads its first partial hour from them.
   */
  private get tallyArgs(): number[] {
    const { maxAds = 1000, retention = DEFAULT_ANALYTICS } = this.options;
    const keepDays = Number.isFinite(retention.dayRetentionMs) ? retention.dayRetentionMs + 2 * DAY_MS : 0;
    return [maxAds, Math.max(DAY_MS, retention.minuteRetentionMs) + HOUR_MS, retention.hourRetentionMs + DAY_MS, keepDays];
  }
}
