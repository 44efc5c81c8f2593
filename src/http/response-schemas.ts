import { clickSchema, impressionSchema } from './schemas.js';

/**
 * Response shapes for the OpenAPI document: documentation only (requests are what ajv validates),
 * checked against real answers by the OpenAPI spec.
 */

type Schema = Record<string, unknown>;

const ratio = { type: 'number', minimum: 0 };
const seconds = { type: 'number', minimum: 0, description: 'seconds' };
const campaign: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'start_time', 'created_at'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    start_time: { type: 'string', format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
  },
};
const count = { type: 'integer', minimum: 0 };

/** The answer to one impression or click; `id` names the field whose retries are answered as replays. */
function itemResult(id: string): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'counted'],
    properties: {
      message: { type: 'string' },
      counted: { type: 'boolean' },
      duplicate: { const: true, description: 'a duplicate within the dedupe window' },
      bot_filtered: { const: true, description: 'BOT_FILTER: the user agent is a bot\'s' },
      replayed: { const: true, description: `a retry of a ${id} seen in the last 24 h: its first outcome, not counted again (also the Idempotent-Replayed: true header)` },
    },
  };
}

/** The answer to a batch of impressions or clicks: one result per item, and the totals. */
function batchResult(id: string): Schema {
  return {
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
      bot_filtered: { ...count, description: 'items not counted because of a bot user agent (BOT_FILTER)' },
      replayed: { ...count, description: `retries of a ${id} already recorded` },
      rejected: count,
    },
  };
}

/** One page of a list: `items` of the `item` schema and the cursor of the next page, after any `fields`. */
function page(items: string, item: string, fields: Schema = {}): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    required: [...Object.keys(fields), items, 'next_cursor'],
    properties: { ...fields, [items]: { type: 'array', items: { $ref: `#/components/schemas/${item}` } }, next_cursor: { type: ['string', 'null'] } },
  };
}

const CORE_RESPONSE_SCHEMAS: Record<string, Schema> = {
  Error: {
    type: 'object',
    additionalProperties: false,
    required: ['error', 'code'],
    properties: { error: { type: 'string' }, code: { type: 'integer', minimum: 400, maximum: 599 } },
  },
  Campaign: campaign,
  CreatedCampaign: {
    ...campaign,
    required: [...(campaign.required as string[]), 'message'],
    properties: { ...(campaign.properties as Schema), message: { type: 'string' } },
  },
  CampaignPage: page('campaigns', 'ListedCampaign'),
  ListedCampaign: {
    ...campaign,
    description: 'a campaign; with include=figures, also its stats and its last 24 UTC hours',
    properties: {
      ...(campaign.properties as Schema),
      total: count,
      last_hour: count,
      last_day: count,
      hourly: {
        type: 'array',
        items: count,
        minItems: 24,
        maxItems: 24,
        description: 'counted impressions per UTC hour, oldest first; the last is the hour in progress',
      },
    },
  },
  Stats: {
    type: 'object',
    additionalProperties: false,
    required: ['campaign_id', 'last_hour', 'last_day', 'total'],
    properties: { campaign_id: { type: 'string' }, last_hour: count, last_day: count, total: count },
  },
  ImpressionResult: itemResult('impression_id'),
  BatchResult: batchResult('impression_id'),
  Unready: {
    type: 'object',
    required: ['status', 'reason', 'error', 'code'],
    properties: { status: { const: 'unready' }, reason: { type: 'string' }, error: { type: 'string' }, code: { const: 503 } },
  },
  ActorTree: {
    type: 'object',
    required: ['id', 'campaigns', 'suspended', 'restarts', 'live_keys', 'children', 'truncated', 'inspector'],
    properties: {
      id: { const: 'registry' },
      campaigns: count,
      suspended: count,
      restarts: count,
      live_keys: count,
      truncated: { type: 'boolean' },
      inspector: { type: 'object', required: ['attached', 'watchers'], properties: { attached: { type: 'boolean' }, watchers: count } },
      children: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'campaign_id', 'status', 'restarts', 'live_keys', 'total', 'bytes'],
          properties: {
            id: { type: 'string', description: 'actor id, campaign:<campaign_id>' },
            campaign_id: { type: 'string' },
            status: { enum: ['live', 'suspended'] },
            restarts: count,
            live_keys: count,
            total: count,
            bytes: count,
          },
        },
      },
    },
  },
};

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

const ANALYTICS_RESPONSE_SCHEMAS: Record<string, Schema> = {
  Click: clickSchema,
  Ad: ad,
  CreatedAd: { ...ad, required: [...(ad.required as string[]), 'message'], properties: { ...(ad.properties as Schema), message: { type: 'string' } } },
  CampaignAdPage: page('ads', 'Ad', { campaign_id: { type: 'string' } }),
  AdPage: page('ads', 'Ad'),
  AdsAnalytics: {
    type: 'object',
    additionalProperties: false,
    required: ['from', 'to', 'ads', 'next_cursor'],
    properties: {
      from: { type: ['string', 'null'], format: 'date-time', description: 'start of the ranked range, widened to its bucket; null: all time' },
      to: { type: 'string', format: 'date-time', description: 'end of the ranked range (exclusive): the snapshot the first page fixed, which every later page ranks' },
      ads: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['ad_id', 'campaigns', 'clicks', 'impressions', 'ctr', 'total_playback_time', 'avg_playback_time'],
          properties: { ad_id: { type: 'string' }, campaigns: count, clicks: count, impressions: count, ctr: ratio, total_playback_time: seconds, avg_playback_time: seconds },
        },
      },
      next_cursor: { type: ['string', 'null'], description: 'the next page of the same snapshot, with the same query' },
    },
  },
  ClickResult: itemResult('click_id'),
  ClickBatchResult: batchResult('click_id'),
  Analytics: {
    type: 'object',
    additionalProperties: false,
    required: ['campaign_id', 'from', 'to', ...figureNames],
    properties: {
      campaign_id: { type: 'string' },
      window: { enum: ['1h', '6h', '24h', '7d', '30d'], description: 'the trailing window read; absent for a from/to range' },
      from: { type: 'string', format: 'date-time', description: "start of the counters' first bucket" },
      to: { type: 'string', format: 'date-time', description: "end of the counters' last bucket (exclusive)" },
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

/** Every component schema, the request bodies named by `$ref` included. */
export const COMPONENT_SCHEMAS: Readonly<Record<string, unknown>> = { Impression: impressionSchema, ...CORE_RESPONSE_SCHEMAS, ...ANALYTICS_RESPONSE_SCHEMAS };

/** What each response header documented in the route table means. */
export const HEADER_DOCS: Record<string, string> = {
  Location: 'the path of what was created (a campaign, an ad, a key, a beacon)',
  'Retry-After': 'seconds to wait before retrying',
  'WWW-Authenticate': 'Bearer realm="impression-counter"',
  RateLimit: 'IETF RateLimit: the policy name, remaining requests r and seconds t until the window resets',
  'RateLimit-Policy': 'IETF RateLimit-Policy: the policy name, quota q per window w seconds',
  'Idempotent-Replayed': '`true` when the answer replays the first outcome of an impression_id or click_id already recorded',
  Allow: 'the methods this path takes',
  'X-Beacon-Outcome': 'counted, duplicate, bot_filtered (or error when a click redirect was followed anyway)',
};
