import type { Context } from 'koa';
import { actorsQuerySchema, eventsQuerySchema } from './debug.js';
import { ANALYTICS_RESPONSE_SCHEMAS, ANALYTICS_ROUTES } from './analytics-docs.js';
import { createCampaignSchema, impressionSchema, listCampaignsSchema } from './schemas.js';

/**
 * The OpenAPI 3.1 document, generated from the ajv schemas the routes validate with (request bodies
 * and query strings) plus the table below (what each route answers). A spec checks that every route
 * the app registers is in this table and in api.md.
 */

type Schema = Record<string, unknown>;
type Method = 'get' | 'post';

interface Answer {
  readonly description: string;
  /** A component name, or an inline schema; absent for answers with no JSON body. */
  readonly schema?: string | Schema;
  readonly type?: string;
  readonly headers?: readonly string[];
}

export interface RouteDoc {
  readonly method: Method;
  /** OpenAPI form: `{id}` for path parameters. */
  readonly path: string;
  readonly summary: string;
  readonly tag: 'api' | 'operations' | 'inspector';
  readonly body?: Schema;
  readonly query?: Schema;
  readonly answers: Readonly<Record<number, Answer>>;
}

const error = (description: string, headers?: readonly string[]): Answer => ({ description, schema: 'Error', headers });
const INVALID = error('invalid request: the message names the field');
const NOT_FOUND = error('no such campaign');
const UNAVAILABLE = error('the campaign (or the service) cannot answer right now; retry after Retry-After seconds', ['Retry-After']);
const UNAUTHORIZED = error('INSPECTOR_TOKEN is set and the request did not carry it', ['WWW-Authenticate']);
const INSPECTOR_NOTE = 'Only when INSPECTOR=on; requires `Authorization: Bearer <token>` or `?token=` when INSPECTOR_TOKEN is set.';

/** Every route the service serves (the inspector's only with INSPECTOR=on). */
export const ROUTES: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/campaigns',
    summary: 'Create a campaign',
    tag: 'api',
    body: createCampaignSchema,
    answers: {
      201: { description: 'created', schema: 'CreatedCampaign', headers: ['Location'] },
      400: INVALID,
      413: error('body too large'),
      415: error('body is not JSON'),
      503: error('journal backlog, or state at MEMORY_BUDGET; with Retry-After'),
      507: error('MAX_CAMPAIGNS campaigns exist'),
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns',
    summary: 'List campaigns in creation order, a page at a time',
    tag: 'api',
    query: listCampaignsSchema,
    answers: { 200: { description: 'one page', schema: 'CampaignPage' }, 400: INVALID },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}',
    summary: 'Get one campaign',
    tag: 'api',
    answers: { 200: { description: 'the campaign', schema: 'Campaign' }, 404: NOT_FOUND },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/{id}/stats',
    summary: "A campaign's counted impressions: trailing hour, trailing day, and total",
    tag: 'api',
    answers: { 200: { description: 'the counts', schema: 'Stats' }, 404: NOT_FOUND, 503: UNAVAILABLE },
  },
  {
    method: 'post',
    path: '/api/v1/impressions',
    summary: 'Record one impression, or a batch (a JSON array) answered item by item',
    tag: 'api',
    body: { oneOf: [{ $ref: '#/components/schemas/Impression' }, { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Impression' } }] },
    answers: {
      200: { description: 'one impression: counted, or a duplicate within the TTL; a batch: one result per item', schema: { oneOf: [{ $ref: '#/components/schemas/ImpressionResult' }, { $ref: '#/components/schemas/BatchResult' }] } },
      400: INVALID,
      404: NOT_FOUND,
      409: error('the campaign has not started yet'),
      413: error('body or batch too large'),
      415: error('body is not JSON'),
      422: error('the impression crashed its campaign repeatedly and was set aside as a dead letter'),
      503: UNAVAILABLE,
    },
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    tag: 'api',
    answers: { 200: { description: 'OpenAPI 3.1', schema: { type: 'object' } } },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (text exposition format)',
    tag: 'operations',
    answers: { 200: { description: 'metrics', type: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process is up',
    tag: 'operations',
    answers: { 200: { description: 'alive', schema: { type: 'object', required: ['status'], properties: { status: { const: 'alive' } } } } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: 503 with a reason while starting, recovering or draining, at the memory budget, while the disk refuses the journal, or while Redis is unavailable or has lost its data',
    tag: 'operations',
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
      'Accepted from loopback, or from elsewhere with Authorization: Bearer <INSPECTOR_TOKEN>.',
    tag: 'operations',
    answers: {
      200: {
        description: 'accepted, or nothing to accept',
        schema: {
          type: 'object',
          required: ['accepted', 'message', 'epoch', 'repaired_slots'],
          properties: { accepted: { type: 'boolean' }, message: { type: 'string' }, epoch: { type: ['string', 'null'] }, repaired_slots: { type: 'integer' } },
        },
      },
      401: error('the token is not valid'),
      403: error('not from loopback, and no valid token'),
    },
  },
  {
    method: 'get',
    path: '/debug/',
    summary: `The inspector page: the actor tree and the live event stream. ${INSPECTOR_NOTE}`,
    tag: 'inspector',
    answers: { 200: { description: 'a self-contained HTML page', type: 'text/html' }, 401: UNAUTHORIZED },
  },
  {
    method: 'get',
    path: '/debug/actors',
    summary: `The live actor tree: the registry and each campaign actor. ${INSPECTOR_NOTE}`,
    tag: 'inspector',
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
    query: eventsQuerySchema,
    answers: {
      200: { description: 'an event stream', type: 'text/event-stream' },
      400: INVALID,
      401: UNAUTHORIZED,
      429: error('too many inspector clients', ['Retry-After']),
    },
  },
  ...ANALYTICS_ROUTES,
];

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

/** Response shapes: documentation only (requests are what ajv validates), checked against real answers by the spec. */
const RESPONSE_SCHEMAS: Record<string, Schema> = {
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
  CampaignPage: {
    type: 'object',
    additionalProperties: false,
    required: ['campaigns', 'next_cursor'],
    properties: { campaigns: { type: 'array', items: { $ref: '#/components/schemas/Campaign' } }, next_cursor: { type: ['string', 'null'] } },
  },
  Stats: {
    type: 'object',
    additionalProperties: false,
    required: ['campaign_id', 'last_hour', 'last_day', 'total'],
    properties: { campaign_id: { type: 'string' }, last_hour: count, last_day: count, total: count },
  },
  ImpressionResult: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'counted'],
    properties: {
      message: { type: 'string' },
      counted: { type: 'boolean' },
      duplicate: { const: true, description: 'a duplicate within the dedupe window' },
      bot_filtered: { const: true, description: 'BOT_FILTER: the user agent is a bot\'s' },
      replayed: { const: true, description: 'a retry of an impression_id seen in the last 24 h: its first outcome, not counted again (also the Idempotent-Replayed: true header)' },
    },
  },
  BatchResult: {
    type: 'object',
    required: ['results', 'counted', 'duplicates', 'bot_filtered', 'replayed', 'rejected'],
    properties: {
      results: {
        type: 'array',
        items: {
          oneOf: [
            { type: 'object', required: ['counted'], properties: { counted: { type: 'boolean' }, duplicate: { const: true }, bot_filtered: { const: true }, replayed: { const: true } } },
            { $ref: '#/components/schemas/Error' },
          ],
        },
      },
      counted: count,
      duplicates: count,
      bot_filtered: { ...count, description: 'items not counted because of a bot user agent (BOT_FILTER)' },
      replayed: { ...count, description: 'retries of an impression_id already recorded' },
      rejected: count,
    },
  },
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

const HEADER_DOCS: Record<string, string> = {
  Location: 'URL of the new campaign',
  'Retry-After': 'seconds to wait before retrying',
  'WWW-Authenticate': 'Bearer realm="inspector"',
};

/** Builds the document (it only changes with the code, so callers build it once). */
export function openApiDocument(version = '0.1.0'): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const route of ROUTES) {
    const operation: Schema = {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      parameters: [...pathParameters(route.path), ...queryParameters(route.query)],
      responses: Object.fromEntries(Object.entries(route.answers).map(([status, answer]) => [status, response(answer)])),
    };
    if (route.body !== undefined) {
      operation.requestBody = { required: true, content: { 'application/json': { schema: toOpenApi(route.body) } } };
    }
    (paths[route.path] ??= {})[route.method] = operation;
    // Every route answers every request with a request id and 5xx without internal text.
    (operation.parameters as Schema[]).push({ $ref: '#/components/parameters/RequestId' });
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'impression-counter',
      version,
      description: 'Counts ad impressions per campaign, dropping repeats of the same user within a TTL. Every error is `{"error", "code"}`.',
    },
    tags: [
      { name: 'api', description: 'the counting API' },
      { name: 'operations', description: 'metrics and health checks' },
      { name: 'inspector', description: 'the live actor inspector (INSPECTOR=on)' },
    ],
    paths,
    components: {
      schemas: { Impression: toOpenApi(impressionSchema), ...RESPONSE_SCHEMAS, ...toOpenApi(ANALYTICS_RESPONSE_SCHEMAS) },
      parameters: {
        RequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'kept when 1–128 characters of A-Z a-z 0-9 _ . : -, otherwise replaced; echoed in the response',
          schema: { type: 'string' },
        },
      },
    },
  };
}

/** Serves the document built once. */
export function openApiHandler(): (ctx: Context) => void {
  const text = JSON.stringify(openApiDocument());
  return (ctx: Context): void => {
    ctx.type = 'json';
    ctx.body = text;
  };
}

function operationId(route: RouteDoc): string {
  const words = route.path
    .replace(/^\/api\/v1/, '')
    .split(/[/{}.-]+/)
    .filter((w) => w !== '');
  return route.method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function pathParameters(path: string): Schema[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
}

function queryParameters(query: Schema | undefined): Schema[] {
  if (query === undefined) return [];
  const properties = (query.properties ?? {}) as Record<string, Schema>;
  const required = new Set((query.required ?? []) as string[]);
  return Object.entries(properties).map(([name, schema]) => {
    // An absent query parameter is just not required; it can never be null.
    const { description, ...rest } = toOpenApi({ ...schema, nullable: false });
    return { name, in: 'query', required: required.has(name), ...(description === undefined ? {} : { description }), schema: rest };
  });
}

function response(answer: Answer): Schema {
  const out: Schema = { description: answer.description };
  if (answer.schema !== undefined) {
    const schema = typeof answer.schema === 'string' ? { $ref: `#/components/schemas/${answer.schema}` } : answer.schema;
    out.content = { 'application/json': { schema } };
  } else if (answer.type !== undefined) {
    out.content = { [answer.type]: { schema: { type: 'string' } } };
  }
  if (answer.headers !== undefined) {
    out.headers = Object.fromEntries(answer.headers.map((h) => [h, { description: HEADER_DOCS[h] ?? h, schema: { type: 'string' } }]));
  }
  return out;
}

/**
 * An ajv schema as JSON Schema 2020-12 (OpenAPI 3.1): ajv's `nullable: true` means the value may
 * also be null, which 2020-12 spells as a type list.
 */
export function toOpenApi(schema: unknown): Schema {
  return convert(schema) as Schema;
}

function convert(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(convert);
  if (value === null || typeof value !== 'object') return value;
  const out: Schema = {};
  const source = value as Schema;
  for (const [key, v] of Object.entries(source)) {
    if (key === 'nullable') continue;
    out[key] = convert(v);
  }
  if (source.nullable === true) {
    if (typeof source.type === 'string') out.type = [source.type, 'null'];
    if (Array.isArray(source.enum)) out.enum = [...(source.enum as unknown[]), null];
  }
  return out;
}
