import type { Context } from 'koa';
import type { AdInfo } from '../../actors/analytics-protocol.js';
import type { Counter } from '../counter.js';
import { badCursor, issueCursor, positionCursor, readCursor, readPosition } from './cursor.js';
import { AppError } from '../errors.js';
import { analyticsValidators as v, type ListCampaignsQuery } from './schemas.js';
import { queryOf, valid } from './validate.js';

const DEFAULT_PAGE = 100;

/** The ad resource as the API shows it. */
export function adJson(ad: AdInfo, campaignId: string): Record<string, string> {
  return { id: ad.id, campaign_id: campaignId, name: ad.name, image_url: ad.imageUrl, target_url: ad.targetUrl, created_at: new Date(ad.createdAt).toISOString() };
}

export function adHandlers(counter: Counter) {
  const analytics = counter.analytics;
  return {
    /** Registers an ad's metadata: 201, or 200 when the same ad was registered before. */
    async create(ctx: Context): Promise<void> {
      const campaignId = String(ctx.params.id);
      const body = valid(v.createAd, ctx.request.body);
      const { ad, created } = await analytics.registerAd(campaignId, { id: body.id ?? undefined, name: body.name, imageUrl: body.image_url, targetUrl: body.target_url });
      ctx.status = created ? 201 : 200;
      ctx.set('Location', adPath(campaignId, ad.id));
      ctx.body = { ...adJson(ad, campaignId), message: created ? 'ad registered' : 'ad already registered with the same metadata' };
    },

    /** One registered ad (a campaign holds at most ANALYTICS_MAX_ADS of them). */
    async get(ctx: Context): Promise<void> {
      const campaignId = String(ctx.params.id);
      const adId = String(ctx.params.ad_id);
      const ad = (await analytics.listCampaignAds(campaignId, 0, analytics.config.maxAds)).ads.find((a) => a.id === adId);
      if (ad === undefined) throw new AppError(404, `no ad ${JSON.stringify(adId)} is registered in campaign ${JSON.stringify(campaignId)}`);
      ctx.body = adJson(ad, campaignId);
    },

    /** One campaign's registered ads, a page at a time. */
    async listForCampaign(ctx: Context): Promise<void> {
      const campaignId = String(ctx.params.id);
      const { limit, after } = page(ctx);
      const got = await analytics.listCampaignAds(campaignId, after, limit);
      ctx.body = { campaign_id: campaignId, ads: got.ads.map((a) => adJson(a, campaignId)), next_cursor: got.next === undefined ? null : positionCursor(ctx, got.next) };
    },

    /** Every campaign's registered ads, in campaign order, a page at a time. */
    async listAll(ctx: Context): Promise<void> {
      const query = queryOf<ListCampaignsQuery>(ctx);
      const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
      let from = { campaign: 0, ad: 0 };
      if (query.cursor !== undefined) {
        const m = /^a(\d{1,9})\.(\d{1,9})$/.exec(readCursor(ctx, query.cursor));
        if (m === null) throw badCursor();
        from = { campaign: Number(m[1]), ad: Number(m[2]) };
      }
      const got = await analytics.listAllAds(from, limit);
      ctx.body = {
        ads: got.ads.map((a) => adJson(a, a.campaignId)),
        next_cursor: got.next === undefined ? null : issueCursor(ctx, `a${got.next.campaign}.${got.next.ad}`),
      };
    },
  };
}

/** `limit` (1–1000, default 100) and the position a `p<n>` cursor names. */
export function page(ctx: Context): { limit: number; after: number } {
  const query = queryOf<ListCampaignsQuery>(ctx);
  const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
  return { limit, after: query.cursor === undefined ? 0 : readPosition(ctx, query.cursor) };
}

/** Where a registered ad is read (its 201's Location). */
function adPath(campaignId: string, adId: string): string {
  return `/api/v1/campaigns/${encodeURIComponent(campaignId)}/ads/${encodeURIComponent(adId)}`;
}
