import type { Context } from 'koa';
import type { CampaignInfo } from '../../actors/protocol.js';
import type { Counter } from '../counter.js';
import { positionCursor, readPosition } from './cursor.js';
import { validators, type ListCampaignsQuery } from './schemas.js';
import { queryOf, valid } from './validate.js';

const DEFAULT_PAGE = 100;

/** The campaign resource as the API shows it. */
export function campaignJson(c: CampaignInfo): Record<string, string> {
  return { id: c.id, name: c.name, start_time: iso(c.startTime), created_at: iso(c.createdAt) };
}

export function campaignHandlers(counter: Counter) {
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
      const query = queryOf<ListCampaignsQuery>(ctx);
      const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
      const after = query.cursor === undefined ? 0 : readPosition(ctx, query.cursor);
      const page = await counter.campaigns.list(after, limit);
      ctx.body = {
        campaigns: page.campaigns.map(campaignJson),
        next_cursor: page.next === undefined ? null : positionCursor(ctx, page.next),
      };
    },

    async get(ctx: Context): Promise<void> {
      ctx.body = campaignJson(await counter.campaigns.get(String(ctx.params.id)));
    },

    async stats(ctx: Context): Promise<void> {
      const id = String(ctx.params.id);
      const stats = await counter.campaigns.stats(id);
      ctx.body = { campaign_id: id, last_hour: stats.lastHour, last_day: stats.lastDay, total: stats.total };
    },
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
