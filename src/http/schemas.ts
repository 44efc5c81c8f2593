import type { JSONSchemaType } from 'ajv';
import { cursorParam } from './cursor.js';
import { compile } from './validate.js';

/** Request schemas: the single source for validation, the request types, and api.md. */

export interface CreateCampaignBody {
  name: string;
  start_time?: string;
}

export const createCampaignSchema: JSONSchemaType<CreateCampaignBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    start_time: { type: 'string', format: 'date-time', nullable: true },
  },
};

export interface ImpressionBody {
  campaign_id: string;
  user_id: string;
  ad_id: string;
  impression_id?: string;
  /** The viewer's user agent, judged by BOT_FILTER. */
  user_agent?: string;
  /** When it happened; within CLICK_MAX_SKEW of the server clock. */
  timestamp?: string;
}

const id = { type: 'string', minLength: 1, maxLength: 256 } as const;

export const impressionSchema: JSONSchemaType<ImpressionBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['campaign_id', 'user_id', 'ad_id'],
  properties: {
    campaign_id: id,
    user_id: id,
    ad_id: id,
    impression_id: { ...id, nullable: true },
    user_agent: { type: 'string', maxLength: 1024, nullable: true },
    timestamp: { type: 'string', format: 'date-time', nullable: true, description: 'when the impression happened; within CLICK_MAX_SKEW of the server clock' },
  },
};

/** `limit` of every paged list: 1–1000 written without leading zeros. */
const PAGE_LIMIT = { type: 'string', pattern: '^(?:[1-9][0-9]{0,2}|1000)$', nullable: true, description: '1–1000, default 100' } as const;

export interface ListCampaignsQuery {
  limit?: string;
  cursor?: string;
}

export interface SearchCampaignsQuery extends ListCampaignsQuery {
  q?: string;
  include?: 'figures';
}

export const listCampaignsSchema: JSONSchemaType<SearchCampaignsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: PAGE_LIMIT,
    cursor: cursorParam,
    q: { type: 'string', minLength: 1, maxLength: 200, nullable: true, description: 'only campaigns whose name contains this, ignoring case' },
    include: {
      type: 'string',
      enum: ['figures'],
      nullable: true,
      description: 'figures: each campaign also has total, last_hour, last_day and hourly (its last 24 UTC hours); at most 100 campaigns a page',
    },
  },
};

export const validators = {
  createCampaign: compile(createCampaignSchema),
  impression: compile(impressionSchema),
};

// ---- Ads, clicks and analytics -----------------------------------------------------------------

export interface CreateAdBody {
  id?: string;
  name: string;
  image_url: string;
  target_url: string;
}

const httpUrl = { type: 'string', minLength: 10, maxLength: 2048, format: 'http-url' } as const;

export const createAdSchema: JSONSchemaType<CreateAdBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'image_url', 'target_url'],
  properties: { id: { ...id, nullable: true }, name: { type: 'string', minLength: 1, maxLength: 200 }, image_url: httpUrl, target_url: httpUrl },
};

export interface ClickBody {
  campaign_id: string;
  ad_id: string;
  user_id?: string;
  ip_address?: string;
  playback_time?: number;
  timestamp?: string;
  user_agent?: string;
  click_id?: string;
}

export const clickSchema: JSONSchemaType<ClickBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['campaign_id', 'ad_id'],
  properties: {
    campaign_id: id,
    ad_id: id,
    user_id: { ...id, nullable: true },
    ip_address: { type: 'string', maxLength: 64, format: 'ip', nullable: true },
    playback_time: { type: 'number', minimum: 0, maximum: 31_536_000, nullable: true, description: 'seconds of playback, 0 to 1 year' },
    timestamp: { type: 'string', format: 'date-time', nullable: true, description: 'when the click happened; within CLICK_MAX_SKEW of the server clock' },
    user_agent: { type: 'string', maxLength: 1024, nullable: true, description: "the viewer's user agent, judged by BOT_FILTER" },
    click_id: { ...id, nullable: true, description: 'idempotency key: a retry within 24 h returns the first outcome and is not counted again' },
  },
};

/** `limit` and `cursor` of the paginated ad lists. */
export const pageQuerySchema: JSONSchemaType<ListCampaignsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: PAGE_LIMIT,
    cursor: cursorParam,
  },
};

/** A trailing window, or a range: what both analytics reads take. */
export interface RangeQuery {
  window?: '1h' | '6h' | '24h' | '7d' | '30d';
  from?: string;
  to?: string;
}

const range = {
  window: { type: 'string', enum: ['1h', '6h', '24h', '7d', '30d'], nullable: true, description: 'trailing window, default 24h; not with from/to' },
  from: { type: 'string', format: 'date-time', nullable: true, description: 'start of a range instead of a window (widened to its bucket); at most 30 days old' },
  to: { type: 'string', format: 'date-time', nullable: true, description: 'end of the range, exclusive (widened to the end of its bucket); default now; only with from' },
} as const;

export interface AnalyticsQuery extends RangeQuery {
  group_by?: 'ad';
}

export const analyticsQuerySchema: JSONSchemaType<AnalyticsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...range,
    group_by: { type: 'string', enum: ['ad'], nullable: true, description: 'ad: add one row per ad' },
  },
};

export interface AdsAnalyticsQuery extends RangeQuery, ListCampaignsQuery {
  campaign_id?: string;
}

export const adsAnalyticsQuerySchema: JSONSchemaType<AdsAnalyticsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    window: { ...range.window, description: 'rank within a trailing window; default: all time' },
    from: range.from,
    to: range.to,
    campaign_id: { ...id, nullable: true, description: "rank one campaign's ads only" },
    limit: PAGE_LIMIT,
    cursor: cursorParam,
  },
};

export interface TimeseriesQuery {
  interval?: 'minute' | 'hour' | 'day';
  from?: string;
  to?: string;
  tz?: string;
  format?: 'json' | 'csv';
}

export const timeseriesQuerySchema: JSONSchemaType<TimeseriesQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    interval: { type: 'string', enum: ['minute', 'hour', 'day'], nullable: true, description: 'bucket size, default hour' },
    from: { type: 'string', format: 'date-time', nullable: true, description: 'first instant (its bucket is the first); default: 1 h, 24 h or 30 days before `to`' },
    to: { type: 'string', format: 'date-time', nullable: true, description: 'end, exclusive; default now' },
    tz: { type: 'string', minLength: 1, maxLength: 64, nullable: true, description: 'IANA time zone for hour and day boundaries, default UTC' },
    format: { type: 'string', enum: ['json', 'csv'], nullable: true, description: 'csv: text/csv (so does Accept: text/csv)' },
  },
};

export const analyticsValidators = {
  createAd: compile(createAdSchema),
  click: compile(clickSchema),
};
