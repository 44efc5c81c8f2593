import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Counter } from '../counter.js';
import type { Readiness } from '../health.js';
import type { Inspector } from '../inspector.js';
import type { Metrics } from '../metrics.js';
import { adHandlers } from './ads.js';
import { adminHandlers, operatorOnly, type RedisAdmin } from './admin.js';
import { analyticsHandlers } from './analytics.js';
import type { BodyBudget } from './body-budget.js';
import type { BotFilter } from './bots.js';
import { campaignHandlers } from './campaigns.js';
import { clickHandlers } from './clicks.js';
import { debugHandlers, requireToken } from './debug.js';
import { impressionHandlers, type ImpressionAnswerer } from './impressions.js';
import { jsonBody } from './json-body.js';
import { openApiHandler } from './openapi.js';
import { opsHandlers } from './ops.js';
import { ROUTES, type Handlers, type Scope } from './route-table.js';

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
  /** BOT_FILTER: which clicks are bots' (isbot's list when absent). */
  readonly bots?: BotFilter;
  /** The inspector routes are served only with one. */
  readonly inspector?: Inspector;
  /** INSPECTOR_TOKEN: what the `inspector` and `operator` scopes accept; empty: none. */
  readonly inspectorToken: string;
  /** The admin routes are served only with one (STORE=redis). */
  readonly redisAdmin?: RedisAdmin;
}

/** Registers every route of the table (src/http/route-table.ts) whose handler this app has. */
export function router(deps: RouteDeps): Router {
  const handlers = buildHandlers(deps);
  const json = jsonBody(deps.bodyLimitBytes, deps.bodyBudget);
  const guards = scopeGuards(deps.inspectorToken);
  const router = new Router();
  for (const route of ROUTES) {
    const handle = route.handle(handlers);
    if (handle === undefined) continue;
    const chain = [...guards[route.scope], ...(route.body === undefined ? [] : [json]), handle];
    router[route.method](route.path.replace(/\{(\w+)\}/g, ':$1'), ...chain);
  }
  return router;
}

function buildHandlers(deps: RouteDeps): Handlers {
  return {
    campaigns: campaignHandlers(deps.counter),
    impressions: impressionHandlers(deps.impressions),
    ads: adHandlers(deps.counter),
    clicks: clickHandlers(deps.counter, deps.batchLimit, deps.bots),
    analytics: analyticsHandlers(deps.counter),
    ops: opsHandlers(deps.metrics, deps.readiness),
    openapi: openApiHandler(),
    debug: deps.inspector === undefined ? undefined : debugHandlers(deps.inspector, deps.counter),
    admin: deps.redisAdmin === undefined ? undefined : adminHandlers(deps.redisAdmin),
  };
}

/** What each scope asks of a request before its handler runs. */
function scopeGuards(token: string): Readonly<Record<Scope, readonly Middleware[]>> {
  return { public: [], operations: [], inspector: [requireToken(token)], operator: [operatorOnly(token)] };
}
