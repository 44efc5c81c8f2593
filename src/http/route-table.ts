import type { Middleware } from 'koa';
import type { Scope as KeyScope } from '../auth/keys.js';
import type { adHandlers } from './ads.js';
import type { adminHandlers } from './admin.js';
import type { analyticsHandlers } from './analytics.js';
import type { beaconHandlers } from './beacons.js';
import { beaconQuerySchema, createBeaconSchema } from './beacons.js';
import type { campaignHandlers } from './campaigns.js';
import type { clickHandlers } from './clicks.js';
import type { dashboardHandlers } from './dashboard.js';
import type { debugHandlers } from './debug.js';
import { actorsQuerySchema, eventsQuerySchema, pageTokenSchema } from './debug.js';
import type { impressionHandlers } from './impressions.js';
import type { keyHandlers } from './keys.js';
import { liveQuerySchema, type LiveFigures } from './live.js';
import { createKeySchema } from './keys.js';
import type { opsHandlers } from './ops.js';
import { adsAnalyticsQuerySchema, analyticsQuerySchema, createAdSchema, createCampaignSchema, listCampaignsSchema, pageQuerySchema, timeseriesQuerySchema } from './schemas.js';

/**
 * Every endpoint the service serves, once: what it is (method, path, summary), what it takes (the
 * ajv schemas its handler validates with), who may call it (scope), what it answers, and which
 * handler serves it. `routes.ts` registers the Koa routes from this table, `openapi.ts` builds the
 * OpenAPI document from it, and a spec holds api.md's headings to it.
 */

type Schema = Record<string, unknown>;

/**
 * Who may call a route: the API-key scope it needs (`admin`, `write`, `read`; see src/auth/keys.ts),
 * or `public` for routes served to anyone (health, the OpenAPI document, signed beacons, which carry
 * their own proof). The guard in src/http/auth.ts enforces it, on the Koa routes and the fast lane
 * alike, and the OpenAPI document declares it.
 */
export type Scope = KeyScope | 'public';

export interface Answer {
  readonly description: string;
  /** A component name, or an inline schema; absent for answers with no JSON body. */
  readonly schema?: string | Schema;
  readonly type?: string;
  /** Other content types it may answer instead, as text (a series as `text/csv`). */
  readonly alternatives?: readonly string[];
  readonly headers?: readonly string[];
}

/** The handlers a running app has; the inspector's, the admin's, the keys' and the beacons' only when they are configured. */
export interface Handlers {
  readonly campaigns: ReturnType<typeof campaignHandlers>;
  readonly impressions: ReturnType<typeof impressionHandlers>;
  readonly ads: ReturnType<typeof adHandlers>;
  readonly clicks: ReturnType<typeof clickHandlers>;
  readonly analytics: ReturnType<typeof analyticsHandlers>;
  readonly ops: ReturnType<typeof opsHandlers>;
  readonly openapi: Middleware;
  readonly debug?: ReturnType<typeof debugHandlers>;
  readonly admin?: ReturnType<typeof adminHandlers>;
  readonly keys?: ReturnType<typeof keyHandlers>;
  readonly beacons?: ReturnType<typeof beaconHandlers>;
  readonly live: LiveFigures;
  readonly dashboard: ReturnType<typeof dashboardHandlers>;
}

export interface Route {
  readonly method: 'get' | 'post' | 'delete';
  /** OpenAPI form: `{id}` for path parameters. */
  readonly path: string;
  readonly summary: string;
  readonly tag: 'api' | 'operations' | 'inspector' | 'dashboard';
  readonly scope: Scope;
  /** It covers every campaign at once, so a key limited to some campaigns cannot call it. */
  readonly everyCampaign?: true;
  /**
   * Its body names campaigns (`campaign_id`, one item or a batch): a key limited to some campaigns
   * may name only those.
   */
  readonly bodyCampaigns?: true;
  /** The handler; a route whose handler is absent (inspector off, memory store) is not served. */
  readonly handle: (h: Handlers) => Middleware | undefined;
  /** The JSON body it reads (a route with one gets the body reader). */
  readonly body?: object;
  /**
   * Its query string, as the ajv schema the router validates it with before the handler runs (the
   * handler reads the result with `queryOf`). Absent: the route takes no query parameter, and any
   * one is refused like an unknown field.
   */
  readonly query?: object;
  /** Any query string is taken as it is (Prometheus scrapers add their own parameters). */
  readonly anyQuery?: true;
  /** The key may also come as `?token=`: for EventSource, which cannot send headers. */
  readonly tokenInQuery?: true;
  readonly answers: Readonly<Record<number, Answer>>;
}

const error = (description: string, headers?: readonly string[]): Answer => ({ description, schema: 'Error', headers });
const INVALID = error('invalid request: the message names the field');
const NOT_FOUND = error('no such campaign');
/** What a route whose answers depend on the journal answers when the disk is full. */
export const DISK_FULL = error('the disk under DATA_DIR is full; nothing was recorded', ['Retry-After']);
const UNAVAILABLE = error('the campaign (or the service) cannot answer right now; retry after Retry-After seconds', ['Retry-After']);
export const UNAUTHORIZED = error('no API key (beyond loopback, or once ADMIN_KEY is set), or an unknown or revoked one', ['WWW-Authenticate']);
export const FORBIDDEN = error("the key lacks the route's scope, or is limited to other campaigns");
export const LIMITED = error('rate limit reached', ['Retry-After', 'RateLimit', 'RateLimit-Policy']);
const NOT_KEPT = error('the configured store does not keep these figures');
const BEACON_REFUSED = error('altered, incomplete, forged or expired');
const KEY = {
  type: 'object',
  required: ['id', 'name', 'scopes', 'campaigns', 'created_at'],
  properties: {
    id: { type: 'string', description: 'names the key in logs, metrics and DELETE /keys/{key_id}; not secret' },
    name: { type: ['string', 'null'] },
    scopes: { type: 'array', items: { enum: ['admin', 'write', 'read'] } },
    campaigns: { type: ['array', 'null'], items: { type: 'string' } },
    created_at: { type: 'string', format: 'date-time' },
    expires_at: { type: ['string', 'null'], format: 'date-time', description: 'refused from this instant on; null: never' },
  },
};
const ref = (component: string): Schema => ({ $ref: `#/components/schemas/${component}` });
const eitherOf = (one: string, other: string): Schema => ({ oneOf: [ref(one), ref(other)] });
/** A body of one item, or a batch: a non-empty JSON array of them. */
const oneOrBatch = (item: string): Schema => ({ oneOf: [ref(item), { type: 'array', minItems: 1, items: ref(item) }] });
/** What a POST of one item or a batch may answer besides its result. */
const batchErrors = (notStarted: string): Record<number, Answer> => ({
  400: INVALID,
  404: NOT_FOUND,
  409: error(notStarted),
  413: error('body or batch too large'),
  415: error('body is not JSON'),
});
const INSPECTOR_NOTE = 'Only when INSPECTOR=on; an admin key, as `Authorization: Bearer <key>` or `?token=<key>`.';

export const ROUTES: readonly Route[] = [
  {
    method: 'post',
    path: '/api/v1/campaigns',
    summary: 'Create a campaign',
    tag: 'api',
    scope: 'admin',
    handle: (h) => h.campaigns.create,
    body: createCampaignSchema,
    answers: {
      201: { description: 'created', schema: 'CreatedCampaign', headers: ['Location'] },
      400: INVALID,
      413: error('body too large'),
      415: error('body is not JSON'),
      503: error('journal backlog, a disk that fails or stalls, or state at MEMORY_BUDGET; with Retry-After'),
      507: error('the disk under DATA_DIR is full, or MAX_CAMPAIGNS campaigns exist'),
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns',
    summary: 'List campaigns in creation order, a page at a time',
    tag: 'api',
    scope: 'read',
    everyCampaign: true,
    handle: (h) => h.campaigns.list,
    query: listCampaignsSchema,
    answers: { 200: { description: 'one page', schema: 'CampaignPage' }, 400: INVALID, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}',
    summary: 'Get one campaign',
    tag: 'api',
    scope: 'read',
    handle: (h) => h.campaigns.get,
    answers: { 200: { description: 'the campaign', schema: 'Campaign' }, 404: NOT_FOUND },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/stats',
    summary: "A campaign's counted impressions: trailing hour, trailing day, and total",
    tag: 'api',
    scope: 'read',
    handle: (h) => h.campaigns.stats,
    answers: { 200: { description: 'the counts', schema: 'Stats' }, 404: NOT_FOUND, 503: UNAVAILABLE },
  },
  {
    method: 'post',
    path: '/api/v1/impressions',
    summary: 'Record one impression, or a batch (a JSON array) answered item by item',
    tag: 'api',
    scope: 'write',
    bodyCampaigns: true,
    handle: (h) => h.impressions.record,
    body: oneOrBatch('Impression'),
    answers: {
      200: { description: 'one impression: counted, or a duplicate within the TTL; a batch: one result per item', schema: eitherOf('ImpressionResult', 'BatchResult'), headers: ['Idempotent-Replayed'] },
      ...batchErrors('the campaign has not started yet'),
      422: error('the impression crashed its campaign repeatedly and was set aside as a dead letter'),
      503: UNAVAILABLE,
      507: DISK_FULL,
    },
  },
  {
    method: 'post',
    path: '/api/v1/campaigns/{id}/ads',
    summary: "Register an ad's metadata (impressions and clicks may also name ads never registered)",
    tag: 'api',
    scope: 'admin',
    handle: (h) => h.ads.create,
    body: createAdSchema,
    answers: {
      201: { description: 'registered', schema: 'CreatedAd', headers: ['Location'] },
      200: { description: 'the same ad was registered before with the same metadata', schema: 'CreatedAd' },
      400: INVALID,
      404: NOT_FOUND,
      409: error('an ad with this id and other metadata exists, or the campaign has ANALYTICS_MAX_ADS ads'),
      413: error('body too large'),
      415: error('body is not JSON'),
      503: UNAVAILABLE,
      507: DISK_FULL,
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/ads/{ad_id}',
    summary: 'One registered ad',
    tag: 'api',
    scope: 'read',
    handle: (h) => h.ads.get,
    answers: { 200: { description: 'the ad', schema: 'Ad' }, 404: error('no such campaign, or no such ad registered in it'), 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/ads',
    summary: "A campaign's registered ads, in registration order, a page at a time",
    tag: 'api',
    scope: 'read',
    handle: (h) => h.ads.listForCampaign,
    query: pageQuerySchema,
    answers: { 200: { description: 'one page', schema: 'CampaignAdPage' }, 400: INVALID, 404: NOT_FOUND, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/ads',
    summary: "Every campaign's registered ads, in campaign then registration order, a page at a time",
    tag: 'api',
    scope: 'read',
    everyCampaign: true,
    handle: (h) => h.ads.listAll,
    query: pageQuerySchema,
    answers: { 200: { description: 'one page', schema: 'AdPage' }, 400: INVALID, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/ads/analytics',
    summary: 'Clicks, impressions and CTR per ad id across campaigns (or in one), all-time or over a window or range, most clicked first; pages rank one snapshot',
    tag: 'api',
    scope: 'read',
    everyCampaign: true,
    handle: (h) => h.analytics.ads,
    query: adsAnalyticsQuerySchema,
    answers: {
      200: { description: 'one page', schema: 'AdsAnalytics' },
      400: INVALID,
      404: NOT_FOUND,
      409: error("the cursor's snapshot can no longer be read as its first page read it; start again without cursor"),
      501: NOT_KEPT,
      503: UNAVAILABLE,
    },
  },
  {
    method: 'post',
    path: '/api/v1/clicks',
    summary: 'Record one click, or a batch (a JSON array) answered item by item',
    tag: 'api',
    scope: 'write',
    bodyCampaigns: true,
    handle: (h) => h.clicks.record,
    body: oneOrBatch('Click'),
    answers: {
      200: { description: 'one click: counted, a duplicate, or bot_filtered; a batch: one result per item', schema: eitherOf('ClickResult', 'ClickBatchResult'), headers: ['Idempotent-Replayed'] },
      ...batchErrors('the campaign had not started at the click time'),
      503: UNAVAILABLE,
      507: DISK_FULL,
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/analytics',
    summary: 'Impressions (counted and raw), clicks, CTR, unique users and playback time over a trailing window or a from/to range, optionally per ad',
    tag: 'api',
    scope: 'read',
    handle: (h) => h.analytics.campaign,
    query: analyticsQuerySchema,
    answers: { 200: { description: 'the figures', schema: 'Analytics' }, 400: INVALID, 404: NOT_FOUND, 501: NOT_KEPT, 503: UNAVAILABLE },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/timeseries',
    summary: 'Counted impressions and clicks per minute, hour or day (local hours and days in the named zone); JSON or CSV',
    tag: 'api',
    scope: 'read',
    handle: (h) => h.analytics.timeseries,
    query: timeseriesQuerySchema,
    answers: {
      200: { description: 'the buckets (text/csv with format=csv or Accept: text/csv)', schema: 'TimeSeries', alternatives: ['text/csv'] },
      400: INVALID,
      404: NOT_FOUND,
      501: NOT_KEPT,
      503: UNAVAILABLE,
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/events',
    summary:
      "Server-Sent Events of a campaign's live figures (counts and the trailing day's analytics): one `data:` line of JSON now, " +
      'then one whenever they change, read at most once a second while someone watches. The key may come as `?token=` (EventSource cannot send headers)',
    tag: 'api',
    scope: 'read',
    tokenInQuery: true,
    handle: (h) => h.live.handle,
    query: liveQuerySchema,
    answers: {
      200: { description: 'an event stream', type: 'text/event-stream' },
      400: INVALID,
      404: NOT_FOUND,
      429: error('MAX_LIVE_STREAMS streams are open; close one and retry', ['Retry-After']),
      503: UNAVAILABLE,
    },
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    tag: 'api',
    scope: 'public',
    handle: (h) => h.openapi,
    answers: { 200: { description: 'OpenAPI 3.1', schema: { type: 'object' } } },
  },
  {
    method: 'post',
    path: '/api/v1/keys',
    summary: 'Create an API key; its secret is in this answer only (stored as a SHA-256 digest)',
    tag: 'api',
    scope: 'admin',
    handle: (h) => h.keys?.create,
    body: createKeySchema,
    answers: { 201: { description: 'the key, with its secret in `key`', headers: ['Location'], schema: { ...KEY, required: [...KEY.required, 'key', 'message'], properties: { ...KEY.properties, key: { type: 'string' }, message: { type: 'string' } } } }, 400: INVALID },
  },
  {
    method: 'get',
    path: '/api/v1/keys',
    summary: 'The live API keys (never their secrets)',
    tag: 'api',
    scope: 'admin',
    handle: (h) => h.keys?.list,
    answers: { 200: { description: 'the keys', schema: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: KEY } } } } },
  },
  {
    method: 'delete',
    path: '/api/v1/keys/{key_id}',
    summary: 'Revoke a key at once (STORE=redis: on every node within a second)',
    tag: 'api',
    scope: 'admin',
    handle: (h) => h.keys?.revoke,
    answers: { 200: { description: 'revoked', schema: { type: 'object', required: ['id', 'revoked', 'message'], properties: { id: { type: 'string' }, revoked: { const: true }, message: { type: 'string' } } } }, 404: error('no such live key') },
  },
  {
    method: 'post',
    path: '/api/v1/beacons',
    summary: 'A signed beacon URL for a page: firing it counts an impression or a click, with no key',
    tag: 'api',
    scope: 'write',
    bodyCampaigns: true,
    handle: (h) => h.beacons?.create,
    body: createBeaconSchema,
    answers: { 201: { description: 'the URL', headers: ['Location'], schema: { type: 'object', required: ['url', 'expires_at'], properties: { url: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } } } }, 400: INVALID },
  },
  {
    method: 'get',
    path: '/api/v1/beacon',
    summary: "Fire a signed beacon (the query is the signed URL's); counts as POST /impressions or /clicks would. No key: the signature is the proof",
    tag: 'api',
    scope: 'public',
    handle: (h) => h.beacons?.fire,
    query: beaconQuerySchema,
    answers: {
      204: { description: 'counted, a duplicate or a bot (X-Beacon-Outcome says which; Idempotent-Replayed: true when a beacon with an id was fired before)', headers: ['X-Beacon-Outcome', 'Idempotent-Replayed'] },
      200: { description: 'with format=gif: a 43-byte transparent GIF', type: 'image/gif' },
      302: { description: 'a click beacon with a redirect (and a one-line text naming it)', type: 'text/plain', headers: ['Location'] },
      403: BEACON_REFUSED,
      404: NOT_FOUND,
      429: LIMITED,
    },
  },
  {
    method: 'post',
    path: '/api/v1/beacon',
    summary: 'Fire a signed beacon with navigator.sendBeacon (any body, ignored); as GET',
    tag: 'api',
    scope: 'public',
    handle: (h) => h.beacons?.fire,
    query: beaconQuerySchema,
    answers: { 204: { description: 'as GET', headers: ['X-Beacon-Outcome'] }, 302: { description: 'as GET', type: 'text/plain', headers: ['Location'] }, 403: BEACON_REFUSED, 404: NOT_FOUND, 429: LIMITED },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (text exposition format)',
    tag: 'operations',
    scope: 'admin',
    handle: (h) => h.ops.metrics,
    anyQuery: true,
    answers: { 200: { description: 'metrics', type: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process is up',
    tag: 'operations',
    scope: 'public',
    handle: (h) => h.ops.healthz,
    answers: { 200: { description: 'alive', schema: { type: 'object', required: ['status'], properties: { status: { const: 'alive' } } } } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: 503 with a reason while starting, recovering or draining, at the memory budget, while the disk refuses the journal, or while Redis is unavailable or has lost its data',
    tag: 'operations',
    scope: 'public',
    handle: (h) => h.ops.readyz,
    answers: {
      200: { description: 'ready', schema: { type: 'object', required: ['status'], properties: { status: { const: 'ready' } } } },
      503: { description: 'not ready', schema: 'Unready' },
    },
  },
  {
    method: 'post',
    path: '/api/v1/admin/redis/accept-reset',
    summary:
      'STORE=redis only: accepts that Redis lost its data (a restart without persistence, a cluster master restarted empty), ' +
      'so that counting resumes into the store as it is; until then the service is unready and campaign calls answer 503. ' +
      'Admin scope.',
    tag: 'operations',
    scope: 'admin',
    handle: (h) => h.admin?.acceptReset,
    answers: {
      200: {
        description: 'accepted, or nothing to accept',
        schema: {
          type: 'object',
          required: ['accepted', 'message', 'epoch', 'repaired_slots'],
          properties: { accepted: { type: 'boolean' }, message: { type: 'string' }, epoch: { type: ['string', 'null'] }, repaired_slots: { type: 'integer' } },
        },
      },
    },
  },
  ...['/', '/dashboard/'].map(
    (path): Route => ({
      method: 'get',
      path,
      summary: 'The dashboard: campaigns, live figures, charts, share links (the same page at / and /dashboard/)',
      tag: 'dashboard',
      scope: 'public',
      handle: (h) => h.dashboard.page,
      answers: { 200: { description: "the page shell; its data comes from the API with the visitor's key", type: 'text/html' }, 304: { description: 'unchanged (If-None-Match)' } },
    }),
  ),
  {
    method: 'get',
    path: '/dashboard/{file}',
    summary: "One of the dashboard's scripts or style sheets (its own, and uPlot's from node_modules)",
    tag: 'dashboard',
    scope: 'public',
    handle: (h) => h.dashboard.file,
    answers: {
      200: { description: 'the file (text/javascript or text/css)', type: 'text/javascript' },
      304: { description: 'unchanged (If-None-Match)' },
      404: error('no such dashboard file'),
    },
  },
  {
    method: 'get',
    path: '/debug/',
    summary: `The inspector page: the actor tree and the live event stream. ${INSPECTOR_NOTE}`,
    tag: 'inspector',
    scope: 'admin',
    tokenInQuery: true,
    handle: (h) => h.debug?.page,
    query: pageTokenSchema,
    answers: { 200: { description: 'a self-contained HTML page', type: 'text/html' }, 401: UNAUTHORIZED },
  },
  {
    method: 'get',
    path: '/debug/actors',
    summary: `The live actor tree: the registry and each campaign actor. ${INSPECTOR_NOTE}`,
    tag: 'inspector',
    scope: 'admin',
    tokenInQuery: true,
    handle: (h) => h.debug?.actors,
    query: actorsQuerySchema,
    answers: { 200: { description: 'the tree', schema: 'ActorTree' }, 400: INVALID, 401: UNAUTHORIZED },
  },
  {
    method: 'get',
    path: '/debug/events',
    summary:
      'Server-Sent Events: one `data:` line of JSON per xstate inspection event, filtered by actor and type. ' +
      'The inspection hook is attached only while a client is connected; a client more than 1 MiB behind is dropped; ' +
      `reply callbacks are never sent; user ids are pseudonymised unless redact=off. ${INSPECTOR_NOTE}`,
    tag: 'inspector',
    scope: 'admin',
    tokenInQuery: true,
    handle: (h) => h.debug?.events,
    query: eventsQuerySchema,
    answers: {
      200: { description: 'an event stream', type: 'text/event-stream' },
      400: INVALID,
      401: UNAUTHORIZED,
      429: error('too many inspector clients', ['Retry-After']),
    },
  },
];
