import Router from '@koa/router';
import type { JSONSchemaType } from 'ajv';
import type { Middleware } from 'koa';
import type { Registry } from 'prom-client';
import type { KeyRing } from '../auth/keys.js';
import type { Counter } from '../counter.js';
import type { Readiness } from '../health.js';
import type { Inspector } from '../inspector.js';
import type { Metrics, OutcomeRecorder } from '../metrics.js';
import { adHandlers } from './ads.js';
import { adminHandlers, type RedisAdmin } from './admin.js';
import { analyticsHandlers } from './analytics.js';
import { bodyCampaigns, type Auth } from './auth.js';
import { beaconHandlers } from './beacons.js';
import type { BodyBudget } from './body-budget.js';
import type { BotFilter } from './bots.js';
import { campaignHandlers } from './campaigns.js';
import { clickHandlers } from './clicks.js';
import { dashboardHandlers } from './dashboard.js';
import { debugHandlers } from './debug.js';
import { impressionHandlers, type ImpressionAnswerer } from './impressions.js';
import { jsonBody } from './json-body.js';
import { keyHandlers } from './keys.js';
import type { LiveFigures } from './live.js';
import { openApiHandler } from './openapi.js';
import { opsHandlers } from './ops.js';
import { ROUTES, type Handlers, type Route } from './route-table.js';
import { compile, NO_QUERY, valid } from './validate.js';

export interface RouteDeps {
  readonly counter: Counter;
  readonly bodyLimitBytes: number;
  /** Bytes of bodies buffered at once across requests, shared with the fast lane. */
  readonly bodyBudget: BodyBudget;
  readonly batchLimit: number;
  /** The impression answerer, shared with the fast lane. */
  readonly impressions: ImpressionAnswerer;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  /** Where click outcomes are counted (metrics); impressions' are counted by their answerer. */
  readonly clickOutcomes?: OutcomeRecorder;
  /** BOT_FILTER: which clicks are bots' (isbot's list when absent). */
  readonly bots?: BotFilter;
  /** The inspector routes are served only with one. */
  readonly inspector?: Inspector;
  /** The admin routes are served only with one (STORE=redis). */
  readonly redisAdmin?: RedisAdmin;
  /** The guard that enforces each route's scope (shared with the fast lane). */
  readonly auth: Auth;
  /** The API keys `/keys` manages (those routes are not served without them). */
  readonly keys?: KeyRing;
  /** BEACON_SECRET: `/beacons` and `/beacon` are served only with one. */
  readonly beaconSecret?: string | Buffer;
  /** Where beacon refusals are counted. */
  readonly registry?: Registry;
  /** The dashboard's live-figure streams. */
  readonly live: LiveFigures;
}

/**
 * Registers every route of the table (src/http/route-table.ts) whose handler this app has, each
 * behind the guard of its scope; a route whose body names campaigns also holds a campaign-limited
 * key to them once the body is read.
 */
export function router(deps: RouteDeps): Router {
  const handlers = buildHandlers(deps);
  const json = jsonBody(deps.bodyLimitBytes, deps.bodyBudget);
  const router = new Router();
  for (const route of ROUTES) {
    const handle = route.handle(handlers);
    if (handle === undefined) continue;
    const guard = deps.auth.guard(route);
    const chain = [
      ...(guard === undefined ? [] : [guard]),
      ...(route.anyQuery === true ? [] : [queryCheck(route)]),
      ...(route.body === undefined ? [] : [json]),
      ...(route.bodyCampaigns === true ? [bodyCampaigns] : []),
      handle,
    ];
    router[route.method](route.path.replace(/\{(\w+)\}/g, ':$1'), ...chain);
  }
  return router;
}

/**
 * Validates a route's query string against its schema (no parameter at all when it has none), the
 * one check every route's query goes through; the handler reads the result with `queryOf`.
 */
function queryCheck(route: Route): Middleware {
  const validate = compile((route.query ?? NO_QUERY) as JSONSchemaType<Record<string, unknown>>);
  return (ctx, next) => {
    ctx.state.query = valid(validate, { ...ctx.query }, 'query');
    return next();
  };
}

function buildHandlers(deps: RouteDeps): Handlers {
  return {
    campaigns: campaignHandlers(deps.counter),
    impressions: impressionHandlers(deps.impressions),
    ads: adHandlers(deps.counter),
    clicks: clickHandlers(deps.counter, deps.batchLimit, deps.bots, deps.clickOutcomes),
    analytics: analyticsHandlers(deps.counter, deps.registry),
    ops: opsHandlers(deps.metrics, deps.readiness),
    openapi: openApiHandler(),
    live: deps.live,
    dashboard: dashboardHandlers(),
    debug: deps.inspector === undefined ? undefined : debugHandlers(deps.inspector, deps.counter),
    admin: deps.redisAdmin === undefined ? undefined : adminHandlers(deps.redisAdmin),
    keys: deps.keys === undefined ? undefined : keyHandlers(deps.keys, () => deps.counter.analytics.now()),
    beacons:
      deps.beaconSecret === undefined
        ? undefined
        : beaconHandlers({ counter: deps.counter, secret: deps.beaconSecret, impressions: deps.impressions, auth: deps.auth, bots: deps.bots, registry: deps.registry, clickOutcomes: deps.clickOutcomes }),
  };
}
