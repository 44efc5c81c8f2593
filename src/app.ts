import { randomBytes } from 'node:crypto';
import Koa, { type Context } from 'koa';
import { KeyRing, MemoryKeyStore } from './auth/keys.js';
import type { Counter } from './counter.js';
import type { BotFilter } from './http/bots.js';
import { Readiness } from './health.js';
import { BodyBudget } from './http/body-budget.js';
import type { RedisAdmin } from './http/admin.js';
import { apiHeaders, Auth } from './http/auth.js';
import type { RateLimits } from './http/rate-limit.js';
import { errorHandler, isClientGone } from './http/errors.js';
import type { FastLaneDeps } from './http/fast-lane.js';
import { impressionAnswerer } from './http/impressions.js';
import { LiveFigures } from './http/live.js';
import { observeRequests } from './http/ops.js';
import { requestId } from './http/request-id.js';
import { router } from './http/routes.js';
import type { Inspector } from './inspector.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';

export interface AppDeps {
  readonly counter: Counter;
  readonly bodyLimitBytes: number;
  readonly batchLimit: number;
  /** BODY_BUFFER_BUDGET: request bodies buffered at once, by the routes and the fast lane together (64 MiB when absent). */
  readonly bodyBudget?: BodyBudget;
  readonly logger: Logger;
  /** Prometheus metrics; when absent the app keeps a private set (without process metrics). */
  readonly metrics?: Metrics;
  /** What `/readyz` reports; always ready when absent. */
  readonly readiness?: Readiness;
  /** The actor inspector: `/debug/*` exists only when one is given (INSPECTOR=on). */
  readonly inspector?: Inspector;
  /** API keys (ADMIN_KEY and those created through `/keys`); an empty ring in memory when absent. */
  readonly keys?: KeyRing;
  /** AUTH=off: no checks at all (a trusted network). */
  readonly authOff?: boolean;
  /** TRUST_PROXY: `X-Forwarded-For` (and `-Proto`, `-Host`) name the client. */
  readonly trustProxy?: boolean;
  /** Rate limits; none when absent. */
  readonly rateLimits?: RateLimits;
  /** BEACON_SECRET; a random one (beacons valid until restart) when absent. */
  readonly beaconSecret?: string;
  /** BOT_FILTER: which impressions and clicks are bots' (isbot's list when absent). */
  readonly bots?: BotFilter;
  /** STORE=redis: `/api/v1/admin/redis/*` exists only when one is given. */
  readonly redisAdmin?: RedisAdmin;
}

/** The Koa app, and what the ingest fast lane in front of it shares with it. */
export interface HttpApp {
  readonly app: Koa;
  /** For `withFastLane(app.callback(), fastLane)`, wherever a server is built. */
  readonly fastLane: FastLaneDeps;
  /** The dashboard's live-figure streams, to be closed at shutdown (they never end on their own). */
  readonly live: LiveFigures;
}

/** Builds the Koa application and its fast lane's dependencies. It never listens: `main.ts` does. */
export function createHttpApp(deps: AppDeps): HttpApp {
  const app = new Koa();
  const metrics = deps.metrics ?? new Metrics({ source: deps.counter.campaigns, processMetrics: false });
  const impressions = impressionAnswerer(deps.counter, deps.batchLimit, metrics.impressions, deps.bots);
  const bodyBudget = deps.bodyBudget ?? new BodyBudget(64 * 1024 * 1024);
  const keys = deps.keys ?? new KeyRing(new MemoryKeyStore());
  const auth = new Auth({ keys, off: deps.authOff, trustProxy: deps.trustProxy, limits: deps.rateLimits, registry: metrics.registry });
  const beaconSecret = deps.beaconSecret || randomBytes(32);
  app.proxy = deps.trustProxy === true;
  const live = new LiveFigures(deps.counter, { registry: metrics.registry });
  const routes = router({ ...deps, live, impressions, bodyBudget, metrics, readiness: deps.readiness ?? new Readiness(), clickOutcomes: metrics.clicks, auth, keys, beaconSecret, registry: metrics.registry });
  app.on('error', (err: unknown, ctx?: Context) => {
    const fields = { err, request_id: ctx?.state.requestId, key_id: ctx?.state.principal?.id };
    if (isClientGone(err)) deps.logger.debug(fields, 'client went away');
    else deps.logger.error(fields, 'request failed');
  });
  app.use(requestId);
  app.use(observeRequests(metrics, deps.logger));
  app.use(errorHandler);
  app.use(apiHeaders);
  app.use(routes.routes());
  app.use(routes.allowedMethods());
  app.use(auth.unrouted());
  return { app, live, fastLane: { answer: impressions, auth, bodyLimitBytes: deps.bodyLimitBytes, bodyBudget, metrics, logger: deps.logger } };
}

/** The Koa application alone (no fast lane): for callers that only need `app.callback()`. */
export function createApp(deps: AppDeps): Koa {
  return createHttpApp(deps).app;
}
