import type { Context } from 'koa';
import { COMPONENT_SCHEMAS, HEADER_DOCS } from './response-schemas.js';
import { FORBIDDEN, LIMITED, ROUTES, UNAUTHORIZED, type Answer, type Route } from './route-table.js';

/**
 * The OpenAPI 3.1 document, generated from the route table (src/http/route-table.ts): its paths,
 * the ajv schemas the routes validate with (request bodies and query strings) and what each route
 * answers.
 */

type Schema = Record<string, unknown>;

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
    // Security from the route's scope, the same field the guard enforces.
    const scope = route.scope;
    operation['x-scope'] = scope;
    operation.security = scope === 'public' ? [] : [{ apiKey: [scope] }];
    const responses = operation.responses as Record<string, Schema>;
    if (scope !== 'public') {
      responses[401] ??= response(UNAUTHORIZED);
      responses[403] ??= response(FORBIDDEN);
      responses[429] ??= response(LIMITED);
    }
    const common = { ...(route.anyQuery === true ? {} : { 400: BAD_QUERY }), ...(route.body === undefined ? {} : BODY_ERRORS), ...EVERY_ROUTE };
    for (const [status, answer] of Object.entries(common)) responses[status] ??= response(answer);
    operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
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
      { name: 'dashboard', description: 'the dashboard page and its files (public; its data comes from the API with the visitor\'s key)' },
    ],
    paths,
    components: {
      schemas: toOpenApi(COMPONENT_SCHEMAS),
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key (`Authorization: Bearer <key>`): ADMIN_KEY or one made with POST /api/v1/keys. Scopes: admin (campaigns, ads, keys, inspector, metrics; implies the others), write (impressions, clicks, beacon URLs), read (campaigns, stats, analytics, series, ads). With no ADMIN_KEY, loopback clients need none.',
        },
      },
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

const errorAnswer = (description: string, headers?: readonly string[]): Answer => ({ description, schema: 'Error', headers });
/** What a route with a query schema answers to a parameter it does not take, or a bad value. */
const BAD_QUERY = errorAnswer('invalid request: the message names the query parameter (`query "x"`) or body field (`field "x"`)');
/** What every route with a JSON body may answer about the body itself. */
const BODY_ERRORS: Record<number, Answer> = {
  400: BAD_QUERY,
  413: errorAnswer('body too large'),
  415: errorAnswer('body is not JSON'),
};
/** What any route may answer, whatever it does. */
const EVERY_ROUTE: Record<number, Answer> = {
  405: errorAnswer('the path is served, but not with this method (Allow lists those it takes)', ['Allow']),
  500: errorAnswer('an internal error; its text is never shown (the log has it, under the X-Request-Id)'),
  501: errorAnswer('a method the server does not implement on any path'),
  503: errorAnswer('starting, recovering or draining; request bodies at BODY_BUFFER_BUDGET; or a reply that did not come in time', ['Retry-After']),
};

/** Serves the document built once. */
export function openApiHandler(): (ctx: Context) => void {
  const text = JSON.stringify(openApiDocument());
  return (ctx: Context): void => {
    ctx.type = 'json';
    ctx.body = text;
  };
}

function operationId(route: Route): string {
  const words = route.path
    .replace(/^\/api\/v1/, '')
    .split(/[/{}.-]+/)
    .filter((w) => w !== '');
  return route.method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function pathParameters(path: string): Schema[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
}

function queryParameters(schema: object | undefined): Schema[] {
  if (schema === undefined) return [];
  const query = schema as Schema;
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
  const text = { schema: { type: 'string' } };
  if (answer.schema !== undefined) {
    const schema = typeof answer.schema === 'string' ? { $ref: `#/components/schemas/${answer.schema}` } : answer.schema;
    out.content = { 'application/json': { schema } };
  } else if (answer.type !== undefined) {
    out.content = { [answer.type]: text };
  }
  for (const type of answer.alternatives ?? []) (out.content as Record<string, Schema>)[type] = text;
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
