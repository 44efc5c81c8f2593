import Koa, { type Context } from 'koa';
import type { Counter } from './counter.js';
import type { BotFilter } from './http/bots.js';
import { Readiness } from './health.js';
import { BodyBudget } from './http/body-budget.js';
import { adminRouter, type RedisAdmin } from './http/admin.js';
import { debugRouter } from './http/debug.js';
import { errorHandler } from './http/errors.js';
import { withFastLane } from './http/fast-lane.js';
import { impressionAnswerer } from './http/impressions.js';
import { observeRequests, opsRouter } from './http/ops.js';
import { requestId } from './http/request-id.js';
import { apiRouter } from './http/routes.js';
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
  /** Token `/debug/*` requires; empty or absent: none. */
  readonly inspectorToken?: string;
  /** BOT_FILTER: which impressions and clicks are bots' (isbot's list when absent). */
  readonly bots?: BotFilter;
  /** STORE=redis: `/api/v1/admin/redis/*` exists only when one is given. */
  readonly redisAdmin?: RedisAdmin;
}

/** Builds the Koa application. It never listens: `main.ts` does, tests use `app.callback()`. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  const metrics = deps.metrics ?? new Metrics({ source: deps.counter, processMetrics: false });
  const impressions = impressionAnswerer(deps.counter, deps.batchLimit, metrics.impressions, deps.bots);
  const bodyBudget = deps.bodyBudget ?? new BodyBudget(64 * 1024 * 1024);
  const routers = [apiRouter(deps.counter, { ...deps, outcomes: metrics.impressions, clickOutcomes: metrics.clicks, impressions, bodyBudget }), opsRouter(metrics, deps.readiness ?? new Readiness())];
  if (deps.inspector) routers.push(debugRouter({ inspector: deps.inspector, counter: deps.counter, token: deps.inspectorToken ?? '' }));
  if (deps.redisAdmin) routers.push(adminRouter({ redis: deps.redisAdmin, token: deps.inspectorToken ?? '' }));
  app.on('error', (err: unknown, ctx?: Context) => deps.logger.error({ err, request_id: ctx?.state.requestId }, 'request failed'));
  app.use(requestId);
  app.use(observeRequests(metrics, deps.logger));
  app.use(errorHandler);
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  // Every server made from `app.callback()` (main and the tests alike) gets the ingest fast lane.
  const koaCallback = app.callback.bind(app);
  app.callback = () =>
    withFastLane(koaCallback(), { answer: impressions, bodyLimitBytes: deps.bodyLimitBytes, bodyBudget, metrics, logger: deps.logger }) as ReturnType<Koa['callback']>;
  return app;
}
