import type { RequestListener } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import type { Readiness } from '../health.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** The route label of requests no route matched (404, 405): one series, whatever path was asked. */
export const UNMATCHED_ROUTE = 'unmatched';

/** `/metrics`, `/healthz` and `/readyz`: what Prometheus and an orchestrator poll. */
export function opsHandlers(metrics: Metrics, readiness: Readiness) {
  const metricsPage = async (ctx: Context): Promise<void> => {
    const { contentType, text } = await metrics.scrape();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = contentType;
    ctx.body = text;
  };
  const healthz = (ctx: Context): void => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'alive' };
  };
  const readyz = (ctx: Context): void => {
    ctx.set('Cache-Control', 'no-store');
    const state = readiness.state;
    if (state.ready) {
      ctx.body = { status: 'ready', ...readiness.details };
      return;
    }
    // Answered here rather than thrown: an orchestrator polls this every few seconds while the
    // service recovers or drains, and a thrown 5xx would log an error line per poll.
    ctx.status = 503;
    ctx.body = { status: 'unready', reason: state.reason, error: `not ready: ${state.reason}`, code: 503, ...readiness.details };
  };
  return { metrics: metricsPage, healthz, readyz };
}

/**
 * Times and counts every request by route template and status, and logs it at `debug` (never at
 * `info`: one line per impression would cost more than counting it).
 */
export function observeRequests(metrics: Metrics, logger: Logger): Middleware {
  return async (ctx: Context, next: Next): Promise<void> => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      const route = typeof matched === 'string' ? matched : UNMATCHED_ROUTE;
      recordRequest(metrics, logger, ctx.state.requestId as string, ctx.method, route, ctx.status, started, (ctx.state.principal as { id?: string } | undefined)?.id);
    }
  };
}

/**
 * Counts and times one request, and logs it at `debug` with the id of the key it came with, never
 * the key itself (shared by the Koa path and the fast lane).
 */
export function recordRequest(metrics: Metrics, logger: Logger, requestId: string, method: string, route: string, status: number, started: number, keyId?: string): void {
  const seconds = (performance.now() - started) / 1000;
  metrics.observeRequest(method, route, status, seconds);
  if (logger.isLevelEnabled('debug')) {
    logger.debug({ request_id: requestId, method, route, status, ms: seconds * 1000, key_id: keyId }, 'request');
  }
}

/** Answers while state is being recovered: alive, not ready, and 503 for everything else. */
export function startingAnswer(readiness: Readiness): RequestListener {
  return (req, res) => {
    const state = readiness.state;
    const reason = state.ready ? 'starting' : state.reason;
    const [status, body] =
      req.url === '/healthz'
        ? [200, { status: 'alive' }]
        : req.url === '/readyz'
          ? [503, { status: 'unready', reason, error: `not ready: ${reason}`, code: 503 }]
          : [503, { error: `the service is ${reason}; retry shortly`, code: 503 }];
    req.resume();
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '1', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
}
