import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Principal, Scope } from '../auth/keys.js';
import type { Logger } from '../log.js';
import type { Auth } from './auth.js';
import type { Metrics } from '../metrics.js';
import type { BodyBudget } from './body-budget.js';
import { errorResponse } from './errors.js';
import { isReplay, REPLAYED_HEADER, SERIALIZED, type ImpressionAnswerer } from './impressions.js';
import { readJson } from './json-body.js';
import { recordRequest } from './ops.js';
import { pickRequestId } from './request-id.js';
import { ROUTES, type Route } from './route-table.js';

export const FAST_LANE_PATH = '/api/v1/impressions';
const JSON_TYPE = /^application\/json\s*(;|$)/i;
const CONTENT_TYPE = 'application/json; charset=utf-8';
/** What `apiHeaders` adds on the Koa path. */
const HEADERS = ['X-Content-Type-Options', 'nosniff', 'Cache-Control', 'no-store'];
/** Its route-table entry: the fast lane is guarded by the same scope as the Koa route it stands in for. */
const ROUTE = ROUTES.find((r) => r.method === 'post' && r.path === FAST_LANE_PATH) as Route;

export interface FastLaneDeps {
  readonly answer: ImpressionAnswerer;
  /** The same guard as the Koa routes (none when absent). */
  readonly auth?: Auth;
  readonly bodyLimitBytes: number;
  /** Shared with the Koa routes: one bound on the bodies buffered at once, whichever path reads them. */
  readonly bodyBudget: BodyBudget;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/**
 * The ingest fast lane: `POST /api/v1/impressions` with a plain JSON body is answered straight from
 * node:http, without building a Koa context, routing or composing middleware — on this route those
 * cost more than counting (measured: Koa's request path is ~0.4 of bare node:http per CPU-second).
 * It runs the same answerer, body parser (co-body, under koa-bodyparser on Koa), error mapping, request id and metrics as the Koa route;
 * anything unusual (another content type, an encoding, another path or method) goes to Koa, so
 * every error stays defined in one place.
 */
export function withFastLane(koa: RequestListener, deps: FastLaneDeps): RequestListener {
  const handle = (req: IncomingMessage, res: ServerResponse): void => void answer(req, res, deps);
  return (req, res) => {
    if (req.method === 'POST' && req.url === FAST_LANE_PATH && takesFastLane(req)) handle(req, res);
    else koa(req, res);
  };
}

function takesFastLane(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  const encoding = req.headers['content-encoding'];
  return type !== undefined && JSON_TYPE.test(type) && (encoding === undefined || encoding.toLowerCase() === 'identity');
}

const REPLAY_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [REPLAYED_HEADER]: 'true' });

async function answer(req: IncomingMessage, res: ServerResponse, deps: FastLaneDeps): Promise<void> {
  const started = performance.now();
  const requestId = pickRequestId(req.headers['x-request-id'] as string | undefined);
  let status = 200;
  let payload: string;
  let headers: Readonly<Record<string, string>> | undefined;
  let principal: Principal | undefined;
  try {
    if (deps.auth !== undefined) {
      principal = deps.auth.identify(req);
      deps.auth.authorize(principal, ROUTE);
      headers = await deps.auth.limit(principal, ROUTE.scope as Scope, req);
    }
    const body = await readJson(req, deps.bodyLimitBytes, deps.bodyBudget);
    if (principal?.campaigns !== undefined) deps.auth?.checkBody(principal, body);
    const answer = await deps.answer(body, req.headers['user-agent']);
    payload = SERIALIZED.get(answer) ?? JSON.stringify(answer);
    // Beside the rate-limit headers, never instead of them (the Koa route sends both).
    if (isReplay(answer)) headers = headers === undefined ? REPLAY_HEADERS : { ...headers, ...REPLAY_HEADERS };
  } catch (err) {
    const e = errorResponse(err);
    if (e.internal) deps.logger.error({ err, request_id: requestId, key_id: principal?.id }, 'request failed');
    status = e.status;
    headers = headers === undefined ? e.headers : { ...headers, ...e.headers };
    payload = JSON.stringify({ error: e.message, code: e.status });
  }
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]);
  res.writeHead(status, ['Content-Type', CONTENT_TYPE, 'Content-Length', String(Buffer.byteLength(payload)), 'X-Request-Id', requestId, ...HEADERS]);
  res.end(payload);
  recordRequest(deps.metrics, deps.logger, requestId, 'POST', FAST_LANE_PATH, status, started, principal?.id);
}
