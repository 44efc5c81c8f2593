import { createHash } from 'node:crypto';
import { BoundedCache } from '../bounded-cache.js';
import type { Context } from 'koa';
import { Counter as PromCounter, Gauge, type Registry } from 'prom-client';
import type { AnalyticsSpan, WindowFigures } from '../../actors/analytics-protocol.js';
import { BUCKET_MS, KEPT, MINUTE_MS, oldestFrom, rangeSpan, spanOf } from '../../actors/counting/stats.js';
import type { AdAcross } from '../use-cases/analytics.js';
import { Zone } from '../calendar.js';
import type { Counter } from '../counter.js';
import { AppError, UnavailableError, ValidationError } from '../errors.js';
import { planSeries } from '../series.js';
import { badCursor, issueCursor, readCursor } from './cursor.js';
import type { AdsAnalyticsQuery, AnalyticsQuery, RangeQuery, TimeseriesQuery } from './schemas.js';
import { queryOf } from './validate.js';

const DEFAULT_SPAN = { minute: 3_600_000, hour: 86_400_000, day: 30 * 86_400_000 } as const;

/**
 * Zones by name: building one (an Intl.DateTimeFormat) costs more than many buckets, and a few zones
 * make up most requests. Bounded: the oldest zone goes first; unknown names are not kept.
 */
export class ZoneCache extends BoundedCache<Zone> {
  constructor(size = 64) {
    super((name) => Zone.of(name), size);
  }

  of(name: string): Zone | undefined {
    return this.get(name);
  }
}

/** The figures of a window as the API shows them. */
export function figuresJson(f: WindowFigures): Record<string, number> {
  return {
    impressions: f.counted,
    raw_impressions: f.counted + f.duplicates,
    duplicates: f.duplicates,
    bot_filtered: f.botImpressions + f.botClicks,
    clicks: f.clicks,
    duplicate_clicks: f.duplicateClicks,
    ctr: f.counted === 0 ? 0 : f.clicks / f.counted,
    unique_users: f.uniqueUsers,
    avg_playback_time: f.playbackCount === 0 ? 0 : f.playbackSeconds / f.playbackCount,
    total_playback_time: f.playbackSeconds,
  };
}

/**
 * The buckets a query's `window`, or its `from`/`to` range, reads at `now` (see `rangeSpan` for how
 * a range is widened to whole buckets); undefined when it names neither.
 */
export function spanOfQuery(q: RangeQuery, now: number): AnalyticsSpan | undefined {
  if (q.window !== undefined && (q.from !== undefined || q.to !== undefined)) throw new ValidationError('query "window" cannot be combined with "from" or "to": give one or the other');
  if (q.from === undefined) {
    if (q.to !== undefined) throw new ValidationError('query "to" needs a "from"');
    return q.window === undefined ? undefined : spanOf(now, q.window);
  }
  const from = Date.parse(q.from);
  const to = q.to === undefined ? Infinity : Date.parse(q.to);
  if (!(from < to)) throw new ValidationError('query "from" must be before "to"');
  if (from > now) throw new ValidationError(`query "from" must not be later than now (${iso(now)})`);
  const span = rangeSpan(from, to, now);
  if (span === undefined) throw new ValidationError(`analytics buckets are kept for 30 days; "from" must be at or after ${iso(oldestFrom(now))}`);
  return span;
}

/** The instants a span's counter buckets cover: [from, to). */
function bounds(span: AnalyticsSpan): { from: string; to: string } {
  const size = BUCKET_MS[span.counters];
  return { from: iso(span.from * size), to: iso(Math.max(span.from, span.to + 1) * size) };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A ranking page's cursor no longer reads the figures its first page read. */
export class RankingChangedError extends AppError {
  constructor(why: string) {
    super(409, `${why}; start again from the first page (without "cursor")`);
  }
}

/**
 * What every page of one `/ads/analytics` walk ranks: counter buckets `from..to` of one tier, or (no
 * span) all-time figures less the minutes from `asOf` on. Fixed by the first page, which ends it at
 * the start of the bucket in progress, so clicks arriving while a client pages fall after it.
 */
interface Snapshot {
  readonly span: AnalyticsSpan | undefined;
  readonly asOf: number;
}

/** The first page's snapshot: the query's span without the bucket in progress, or all time before this minute. */
function firstSnapshot(q: RangeQuery, now: number): Snapshot {
  const span = spanOfQuery(q, now);
  if (span === undefined) return { span: undefined, asOf: Math.floor(now / MINUTE_MS) * MINUTE_MS };
  const current = Math.floor(now / BUCKET_MS[span.counters]);
  // A trailing window slides back one bucket (it keeps its length); a range loses the bucket in progress.
  const shift = q.window !== undefined ? 1 : 0;
  const frozen = countersOnly(span.counters, span.from - shift, Math.min(span.to - shift, current - 1));
  return { span: frozen, asOf: (frozen.to + 1) * BUCKET_MS[frozen.counters] };
}

/** A span of counters only: a ranking shows no distinct users, so it reads no sketch. */
function countersOnly(counters: AnalyticsSpan['counters'], from: number, to: number): AnalyticsSpan {
  return { counters, from, to, sketch: 'daily', sketchFrom: 1, sketchTo: 0 };
}

/** The ranking in a few bytes: any change to a row's figures, or a row more or less, changes it. */
function digestOf(rows: readonly AdAcross[]): string {
  const hash = createHash('sha256');
  for (const r of rows) hash.update(`${r.adId}\0${r.clicks}\0${r.impressions}\0${r.campaigns}\n`);
  return hash.digest('base64url').slice(0, 16);
}

const TIER_CODE = { minutes: 'm', hours: 'h' } as const;

/** `r1`, the snapshot (tier or `a`ll time, its buckets, `asOf`), the ranking's digest, then the last row's clicks and ad id. */
function rankingPayload(snap: Snapshot, digest: string, last: AdAcross): string {
  const { span } = snap;
  return ['r1', span === undefined ? 'a' : TIER_CODE[span.counters], span?.from ?? 0, span?.to ?? 0, snap.asOf, digest, last.clicks, last.adId].join('\n');
}

function readRanking(payload: string, now: number): { snap: Snapshot; digest: string; clicks: number; adId: string } {
  const parts = payload.split('\n');
  if (parts.length < 8 || parts[0] !== 'r1' || !/^[amh]$/.test(parts[1])) throw badCursor();
  const [from, to, asOf, clicks] = [parts[2], parts[3], parts[4], parts[6]].map(Number);
  if (![from, to, asOf, clicks].every(Number.isSafeInteger)) throw badCursor();
  const adId = parts.slice(7).join('\n');
  // The checksum binds a cursor to its query but is no secret: whatever a client could write into a
  // payload must still name a snapshot no later than now, so that no page sums more than the buckets kept.
  if (parts[1] === 'a' ? asOf > now : to > Math.floor(now / BUCKET_MS[parts[1] === 'm' ? 'minutes' : 'hours']) || to < from - 1) throw badCursor();
  if (parts[1] === 'a') {
    if (Math.floor(asOf / MINUTE_MS) <= Math.floor(now / MINUTE_MS) - KEPT.minutes) throw new RankingChangedError("the minutes since this ranking's snapshot are no longer all kept (it is more than 25 hours old)");
    return { snap: { span: undefined, asOf }, digest: parts[5], clicks, adId };
  }
  const counters = parts[1] === 'm' ? 'minutes' : 'hours';
  if (from <= Math.floor(now / BUCKET_MS[counters]) - KEPT[counters]) throw new RankingChangedError("the start of this ranking's range is no longer kept");
  return { snap: { span: countersOnly(counters, from, to), asOf }, digest: parts[5], clicks, adId };
}

/**
 * Rankings across every campaign computed at once, at most: each reads every campaign's ad rows and
 * holds a row per ad id until it answers, so more at once would only share the CPU and add memory.
 */
export const RANKINGS_AT_ONCE = 2;

export function analyticsHandlers(counter: Counter, registry?: Registry) {
  const analytics = counter.analytics;
  const zones = new ZoneCache();
  const registers = registry === undefined ? [] : [registry];
  const running = new Gauge({ name: 'impression_counter_rankings_running', help: `Rankings across every campaign (GET /ads/analytics without campaign_id) being computed now (at most ${RANKINGS_AT_ONCE}).`, registers });
  const refused = new PromCounter({ name: 'impression_counter_rankings_refused_total', help: `Rankings across every campaign answered 503 because ${RANKINGS_AT_ONCE} were being computed.`, registers });
  let computing = 0;
  /** Runs a ranking across every campaign if fewer than RANKINGS_AT_ONCE are running, else refuses it. */
  const ranking = async (rank: () => Promise<AdAcross[]>): Promise<AdAcross[]> => {
    if (computing >= RANKINGS_AT_ONCE) {
      refused.inc();
      throw new UnavailableError(`${RANKINGS_AT_ONCE} rankings across every campaign are being computed; retry shortly, or rank one campaign with campaign_id`, 1000);
    }
    running.set(++computing);
    try {
      return await rank();
    } finally {
      running.set(--computing);
    }
  };
  return {
    /** GET /campaigns/:id/analytics?window=…&group_by=ad */
    async campaign(ctx: Context): Promise<void> {
      const id = String(ctx.params.id);
      const query = queryOf<AnalyticsQuery>(ctx);
      const now = analytics.now();
      const window = query.from === undefined && query.to === undefined ? (query.window ?? '24h') : undefined;
      const span = spanOfQuery(window === undefined ? query : { window }, now) as AnalyticsSpan;
      const report = await analytics.report(id, span, query.group_by === 'ad', now);
      const body: Record<string, unknown> = { campaign_id: id, ...(window && { window }), ...bounds(span), ...figuresJson(report.campaign) };
      if (report.ads !== undefined) body.ads = report.ads.map((a) => ({ ad_id: a.adId, ...figuresJson(a.figures) }));
      ctx.body = body;
    },

    /**
     * GET /ads/analytics: clicks (and impressions) per ad id across campaigns or within one, all-time
     * or over a window or range, most clicked first; paged over a snapshot fixed by the first page.
     */
    async ads(ctx: Context): Promise<void> {
      const query = queryOf<AdsAnalyticsQuery>(ctx);
      const limit = query.limit === undefined ? 100 : Number(query.limit);
      const now = analytics.now();
      const after = query.cursor === undefined ? undefined : readRanking(readCursor(ctx, query.cursor), now);
      const snap = after?.snap ?? firstSnapshot(query, now);
      const rank = (): Promise<AdAcross[]> => analytics.adsAcrossCampaigns(now, snap.span, snap.span === undefined ? snap.asOf : undefined, query.campaign_id);
      const rows = query.campaign_id === undefined ? await ranking(rank) : await rank();
      const digest = digestOf(rows);
      if (after !== undefined && after.digest !== digest) {
        throw new RankingChangedError('figures before this ranking\'s snapshot changed since its first page (an impression or click with a "timestamp" before it, or a campaign started before it)');
      }
      // The rows after the last one shown, in the order (clicks descending, ad id ascending).
      let start = 0;
      if (after !== undefined) {
        start = rows.findIndex((r) => r.clicks < after.clicks || (r.clicks === after.clicks && r.adId > after.adId));
        if (start < 0) start = rows.length;
      }
      const end = start + limit;
      const shown = rows.slice(start, end);
      ctx.body = {
        ...(snap.span === undefined ? { from: null, to: iso(snap.asOf) } : bounds(snap.span)),
        ads: shown.map((r) => ({
          ad_id: r.adId,
          campaigns: r.campaigns,
          clicks: r.clicks,
          impressions: r.impressions,
          ctr: r.impressions === 0 ? 0 : r.clicks / r.impressions,
          total_playback_time: r.playbackSeconds,
          avg_playback_time: r.playbackCount === 0 ? 0 : r.playbackSeconds / r.playbackCount,
        })),
        next_cursor: end < rows.length ? issueCursor(ctx, rankingPayload(snap, digest, shown[shown.length - 1])) : null,
      };
    },

    /** GET /campaigns/:id/timeseries?interval=…&from&to&tz (JSON, or CSV by format=csv or Accept). */
    async timeseries(ctx: Context): Promise<void> {
      const id = String(ctx.params.id);
      // The cheap existence check first: no bucket is planned for a campaign that does not exist.
      await counter.campaigns.get(id);
      const query = queryOf<TimeseriesQuery>(ctx);
      const interval = query.interval ?? 'hour';
      const tz = query.tz ?? 'UTC';
      const zone = zones.of(tz);
      if (zone === undefined) throw new ValidationError(`query "tz" is not an IANA time zone this server knows: ${JSON.stringify(tz)}`);
      const now = analytics.now();
      const to = query.to == null ? now : Date.parse(query.to);
      const from = query.from == null ? to - DEFAULT_SPAN[interval] : Date.parse(query.from);
      const plan = planSeries(interval, from, to, zone, now, analytics.config);
      const answer = await analytics.series(id, plan.query, now);
      const buckets = plan.shown.map((start, i) => {
        const b: Record<string, unknown> = { start: zone.format(start), impressions: answer.impressions[i], clicks: answer.clicks[i] };
        if (plan.approximate[i]) b.approximate = true;
        return b;
      });
      const csv = query.format === 'csv' || (query.format === undefined && ctx.accepts('application/json', 'text/csv') === 'text/csv');
      if (csv) {
        ctx.type = 'text/csv; charset=utf-8';
        ctx.set('Content-Disposition', `inline; filename="${id.replace(/[^\w.-]/g, '_')}-${interval}.csv"`);
        ctx.body = ['start,impressions,clicks', ...buckets.map((b) => `${String(b.start)},${String(b.impressions)},${String(b.clicks)}`)].join('\n') + '\n';
        return;
      }
      ctx.body = { campaign_id: id, interval, tz, buckets };
    },
  };
}
