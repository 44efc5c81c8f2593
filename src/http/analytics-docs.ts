import type { RouteDoc } from './openapi.js';
import { analyticsQuerySchema, clickSchema, createAdSchema, pageQuerySchema, timeseriesQuerySchema } from './schemas.js';

/** OpenAPI entries of the ads, clicks and analytics routes (issue 6); openapi.ts folds them in. */

type Schema = Record<string, unknown>;

const error = (description: string, headers?: readonly string[]) => ({ description, schema: 'Error', headers });
const INVALID = error('invalid request: the message names the field');
const NOT_FOUND = error('no such campaign');
const UNAVAILABLE = error('the campaign (or the service) cannot answer right now; retry after Retry-After seconds', ['Retry-After']);
const count = { type: 'integer', minimum: 0 };
const ratio = { type: 'number', minimum: 0 };
const seconds = { type: 'number', minimum: 0, description: 'seconds' };

export const ANALYTICS_ROUTES: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/campaigns/{id}/ads',
    summary: "Register an ad's metadata (impressions and clicks may also name ads never registered)",
    tag: 'api',
    body: createAdSchema as unknown as Schema,
    answers: {
      201: { description: 'registered', schema: 'CreatedAd' },
      200: { description: 'the same ad was registered before with the same metadata', schema: 'CreatedAd' },
      400: INVALID,
      404: NOT_FOUND,
      409: error('an ad with this id and other metadata exists, or the campaign has ANALYTICS_MAX_ADS ads'),
      413: error('body too large'),
      415: error('body is not JSON'),
      503: UNAVAILABLE,
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/ads',
    summary: "A campaign's registered ads, in registration order, a page at a time",
    tag: 'api',
    query: pageQuerySchema as unknown as Schema,
    answers: { 200: { description: 'one page', schema: 'CampaignAdPage' }, 400: INVALID, 404: NOT_FOUND, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/ads',
    summary: "Every campaign's registered ads, in campaign then registration order, a page at a time",
    tag: 'api',
    query: pageQuerySchema as unknown as Schema,
    answers: { 200: { description: 'one page', schema: 'AdPage' }, 400: INVALID, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/ads/analytics',
    summary: 'All-time clicks, impressions and CTR per ad id across campaigns, most clicked first',
    tag: 'api',
    query: pageQuerySchema as unknown as Schema,
    answers: { 200: { description: 'one page', schema: 'AdsAnalytics' }, 400: INVALID, 503: UNAVAILABLE },
  },
  {
    method: 'post',
    path: '/api/v1/clicks',
    summary: 'Record one click, or a batch (a JSON array) answered item by item',
    tag: 'api',
    body: { oneOf: [{ $ref: '#/components/schemas/Click' }, { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Click' } }] },
    answers: {
      200: { description: 'one click: counted, a duplicate, or bot_filtered; a batch: one result per item', schema: { oneOf: [{ $ref: '#/components/schemas/ClickResult' }, { $ref: '#/components/schemas/ClickBatchResult' }] } },
      400: INVALID,
      404: NOT_FOUND,
      409: error('the campaign had not started at the click time'),
      413: error('body or batch too large'),
      415: error('body is not JSON'),
      503: UNAVAILABLE,
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/analytics',
    summary: 'Impressions (counted and raw), clicks, CTR, unique users and playback time over a trailing window, optionally per ad',
    tag: 'api',
    query: analyticsQuerySchema as unknown as Schema,
    answers: { 200: { description: 'the figures', schema: 'Analytics' }, 400: INVALID, 404: NOT_FOUND, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/timeseries',
    summary: 'Counted impressions and clicks per minute, hour or day (local hours and days in the named zone); JSON or CSV',
    tag: 'api',
    query: timeseriesQuerySchema as unknown as Schema,
    answers: {
      200: { description: 'the buckets (text/csv with format=csv or Accept: text/csv)', schema: 'TimeSeries' },
      400: INVALID,
      404: NOT_FOUND,
      503: UNAVAILABLE,
    },
  },
];

const ad: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'campaign_id', 'name', 'image_url', 'target_url', 'created_at'],
  properties: {
    id: { type: 'string' },
    campaign_id: { type: 'string' },
    name: { type: 'string' },
    image_url: { type: 'string', format: 'uri' },
    target_url: { type: 'string', format: 'uri' },
    created_at: { type: 'string', format: 'date-time' },
  },
};

const figures: Record<string, Schema> = {
  impressions: { ...count, description: 'counted impressions' },
  raw_impressions: { ...count, description: 'impressions received from non-bots: counted plus duplicates' },
  duplicates: count,
  bot_filtered: { ...count, description: 'impressions and clicks not counted because of a bot user agent' },
  clicks: { ...count, description: 'counted clicks' },
  duplicate_clicks: { ...count, description: 'clicks not counted as repeats within CLICK_DEDUP_TTL' },
  ctr: { ...ratio, description: 'clicks ÷ counted impressions; 0 when there are none' },
  unique_users: { ...count, description: 'distinct users with a counted impression (HyperLogLog estimate)' },
  avg_playback_time: seconds,
  total_playback_time: seconds,
};
const figureNames = Object.keys(figures);

export const ANALYTICS_RESPONSE_SCHEMAS: Record<string, Schema> = {
  Click: clickSchema as unknown as Schema,
  Ad: ad,
  CreatedAd: { ...ad, required: [...(ad.required as string[]), 'message'], properties: { ...(ad.properties as Schema), message: { type: 'string' } } },
  CampaignAdPage: {
    type: 'object',
    additionalProperties: false,
    required: ['campaign_id', 'ads', 'next_cursor'],
    properties: { campaign_id: { type: 'string' }, ads: { type: 'array', items: { $ref: '#/components/schemas/Ad' } }, next_cursor: { type: ['string', 'null'] } },
  },
  AdPage: {
    type: 'object',
    additionalProperties: false,
    required: ['ads', 'next_cursor'],
    properties: { ads: { type: 'array', items: { $ref: '#/components/schemas/Ad' } }, next_cursor: { type: ['string', 'null'] } },
  },
  AdsAnalytics: {
    type: 'object',
    additionalProperties: false,
    required: ['ads', 'next_cursor'],
    properties: {
      ads: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['ad_id', 'campaigns', 'clicks', 'impressions', 'ctr', 'total_playback_time', 'avg_playback_time'],
          properties: { ad_id: { type: 'string' }, campaigns: count, clicks: count, impressions: count, ctr: ratio, total_playback_time: seconds, avg_playback_time: seconds },
        },
      },
      next_cursor: { type: ['string', 'null'] },
    },
  },
  ClickResult: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'counted'],
    properties: {
      message: { type: 'string' },
      counted: { type: 'boolean' },
      duplicate: { const: true },
      bot_filtered: { const: true },
      replayed: { const: true, description: 'a retry of a click_id seen in the last 24 h: its first outcome, not counted again (also the Idempotent-Replayed: true header)' },
    },
  },
  ClickBatchResult: {
    type: 'object',
    additionalProperties: false,
    required: ['results', 'counted', 'duplicates', 'bot_filtered', 'replayed', 'rejected'],
    properties: {
      results: {
        type: 'array',
        items: {
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['counted'], properties: { counted: { type: 'boolean' }, duplicate: { const: true }, bot_filtered: { const: true }, replayed: { const: true } } },
            { $ref: '#/components/schemas/Error' },
          ],
        },
      },
      counted: count,
      duplicates: count,
      bot_filtered: count,
      replayed: { ...count, description: 'retries of a click_id already recorded' },
      rejected: count,
    },
  },
  Analytics: {
    type: 'object',
    additionalProperties: false,
    required: ['campaign_id', 'window', ...figureNames],
    properties: {
      campaign_id: { type: 'string' },
      window: { enum: ['1h', '6h', '24h', '7d', '30d'] },
      ...figures,
      ads: {
        type: 'array',
        description: 'with group_by=ad: one row per ad, first seen first; "(other)" gathers ads beyond ANALYTICS_MAX_ADS',
        items: { type: 'object', additionalProperties: false, required: ['ad_id', ...figureNames], properties: { ad_id: { type: 'string' }, ...figures } },
      },
    },
  },
  TimeSeries: {
    type: 'object',
    additionalProperties: false,
    required: ['campaign_id', 'interval', 'tz', 'buckets'],
    properties: {
      campaign_id: { type: 'string' },
      interval: { enum: ['minute', 'hour', 'day'] },
      tz: { type: 'string' },
      buckets: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['start', 'impressions', 'clicks'],
          properties: {
            start: { type: 'string', format: 'date-time', description: "the bucket's start, with the zone's offset" },
            impressions: count,
            clicks: count,
            approximate: { const: true, description: 'a local day older than the hour retention, read from the UTC day of the same date' },
          },
        },
      },
    },
  },
};
