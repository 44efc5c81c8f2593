import { BoundedCache } from '../bounded-cache.js';
import type { Context } from 'koa';
import type { WindowFigures } from '../../actors/analytics-protocol.js';
import { Zone } from '../calendar.js';
import type { Counter } from '../counter.js';
import { ValidationError } from '../errors.js';
import { planSeries } from '../series.js';
import { encode, page } from './ads.js';
import { analyticsValidators as v } from './schemas.js';
import { valid } from './validate.js';

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

export function analyticsHandlers(counter: Counter) {
  const analytics = counter.analytics;
  const zones = new ZoneCache();
  return {
    /** GET /campaigns/:id/analytics?window=…&group_by=ad */
    async campaign(ctx: Context): Promise<void> {
      const id = String(ctx.params.id);
      const query = valid(v.analytics, { ...ctx.query }, 'query');
      const window = query.window ?? '24h';
      const report = await analytics.report(id, window, query.group_by === 'ad');
      const body: Record<string, unknown> = { campaign_id: id, window, ...figuresJson(report.campaign) };
      if (report.ads !== undefined) body.ads = report.ads.map((a) => ({ ad_id: a.adId, ...figuresJson(a.figures) }));
      ctx.body = body;
    },

    /** GET /ads/analytics: all-time clicks (and impressions) per ad id across campaigns, most clicked first. */
    async ads(ctx: Context): Promise<void> {
      const { limit, after } = page(ctx);
      const rows = await analytics.adsAcrossCampaigns();
      const end = after + limit;
      ctx.body = {
        ads: rows.slice(after, end).map((r) => ({
          ad_id: r.adId,
          campaigns: r.campaigns,
          clicks: r.clicks,
          impressions: r.impressions,
          ctr: r.impressions === 0 ? 0 : r.clicks / r.impressions,
          total_playback_time: r.playbackSeconds,
          avg_playback_time: r.playbackCount === 0 ? 0 : r.playbackSeconds / r.playbackCount,
        })),
        next_cursor: end < rows.length ? encode(`p${end}`) : null,
      };
    },

    /** GET /campaigns/:id/timeseries?interval=…&from&to&tz (JSON, or CSV by format=csv or Accept). */
    async timeseries(ctx: Context): Promise<void> {
      const id = String(ctx.params.id);
      // The cheap existence check first: no bucket is planned for a campaign that does not exist.
      await counter.campaigns.get(id);
      const query = valid(v.timeseries, { ...ctx.query }, 'query');
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
