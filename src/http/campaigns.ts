import type { Context } from 'koa';
import type { CampaignInfo, Stats } from '../../actors/protocol.js';
import { Zone } from '../calendar.js';
import type { Counter } from '../counter.js';
import { ValidationError } from '../errors.js';
import { planSeries } from '../series.js';
import { CAMPAIGNS_PER_REQUEST } from '../use-cases/campaigns.js';
import { positionCursor, readPosition } from './cursor.js';
import { validators, type SearchCampaignsQuery } from './schemas.js';
import { queryOf, valid } from './validate.js';

const DEFAULT_PAGE = 100;
const SCAN_PAGE = 1000;
/**
 * Most campaigns one page lists with `include=figures`: each costs a stats read and a series read
 * (two asks of its actor, or two Redis round trips), so a page's cost stays bounded.
 */
export const FIGURES_PAGE = 100;
const HOUR_MS = 3_600_000;

/** The campaign resource as the API shows it. */
export function campaignJson(c: CampaignInfo): Record<string, string> {
  return { id: c.id, name: c.name, start_time: iso(c.startTime), created_at: iso(c.createdAt) };
}

/** A campaign's counts as the API shows them (its stats, its live figures, its listing with figures). */
export function countsJson(s: Stats): Record<string, number> {
  return { last_hour: s.lastHour, last_day: s.lastDay, total: s.total };
}

export function campaignHandlers(counter: Counter) {
  const utc = Zone.of('UTC') as Zone;

  /**
   * A listed campaign's figures, read at `now` by the stats and timeseries endpoints' own reads: its
   * stats, and its counted impressions per UTC hour over the 24 hours ending with the hour in progress
   * (as `/timeseries?interval=hour&from=<that hour − 23 h>&to=<its end>` answers them: 24 numbers,
   * also in an hour's first millisecond).
   */
  async function withFigures(campaigns: readonly CampaignInfo[], now: number): Promise<Record<string, unknown>[]> {
    const end = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
    const plan = planSeries('hour', end - 24 * HOUR_MS, end, utc, now, counter.analytics.config);
    return Promise.all(
      campaigns.map(async (c) => {
        const [stats, series] = await Promise.all([counter.campaigns.stats(c.id, now), counter.analytics.series(c.id, plan.query, now)]);
        return { ...campaignJson(c), ...countsJson(stats), hourly: Array.from(series.impressions) };
      }),
    );
  }

  return {
    async create(ctx: Context): Promise<void> {
      const body = valid(validators.createCampaign, ctx.request.body);
      const campaign = await counter.campaigns.create({
        name: body.name,
        startTime: body.start_time == null ? undefined : Date.parse(body.start_time),
      });
      ctx.status = 201;
      ctx.set('Location', `/api/v1/campaigns/${encodeURIComponent(campaign.id)}`);
      ctx.body = { ...campaignJson(campaign), message: 'campaign created' };
    },

    async list(ctx: Context): Promise<void> {
      const query = queryOf<SearchCampaignsQuery>(ctx);
      const figures = query.include === 'figures';
      const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
      if (figures && limit > FIGURES_PAGE) throw new ValidationError(`query "limit" must be at most ${FIGURES_PAGE} with include=figures`);
      const after = query.cursor === undefined ? 0 : readPosition(ctx, query.cursor);
      const page = query.q === undefined ? await counter.campaigns.list(after, limit) : await search(counter, query.q, after, limit);
      ctx.body = {
        campaigns: figures ? await withFigures(page.campaigns, counter.analytics.now()) : page.campaigns.map(campaignJson),
        next_cursor: page.next === undefined ? null : positionCursor(ctx, page.next),
      };
    },

    async get(ctx: Context): Promise<void> {
      ctx.body = campaignJson(await counter.campaigns.get(String(ctx.params.id)));
    },

    async stats(ctx: Context): Promise<void> {
      const id = String(ctx.params.id);
      const stats = await counter.campaigns.stats(id);
      ctx.body = { campaign_id: id, ...countsJson(stats) };
    },
  };
}

/** Up to `limit` campaigns whose name contains `q` (ignoring case), looking at CAMPAIGNS_PER_REQUEST campaigns at most. */
async function search(counter: Counter, q: string, after: number, limit: number): Promise<{ campaigns: CampaignInfo[]; next?: number }> {
  const needle = q.toLowerCase();
  const found: CampaignInfo[] = [];
  let position = after;
  while (position - after < CAMPAIGNS_PER_REQUEST) {
    const page = await counter.campaigns.list(position, Math.min(SCAN_PAGE, after + CAMPAIGNS_PER_REQUEST - position));
    for (let i = 0; i < page.campaigns.length; i++) {
      if (!page.campaigns[i].name.toLowerCase().includes(needle)) continue;
      found.push(page.campaigns[i]);
      // Full: the next page starts right after this match.
      if (found.length === limit) return { campaigns: found, next: i === page.campaigns.length - 1 ? page.next : position + i + 1 };
    }
    if (page.next === undefined) return { campaigns: found };
    position = page.next;
  }
  return { campaigns: found, next: position };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
