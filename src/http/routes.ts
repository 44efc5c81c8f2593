import Router from '@koa/router';
import type { Counter } from '../counter.js';
import type { OutcomeRecorder } from '../metrics.js';
import { campaignHandlers } from './campaigns.js';
import { impressionHandlers } from './impressions.js';
import { jsonBody } from './json-body.js';
import { openApiHandler } from './openapi.js';

export interface RouteOptions {
  readonly bodyLimitBytes: number;
  readonly batchLimit: number;
  /** Where impression outcomes are counted (metrics). */
  readonly outcomes?: OutcomeRecorder;
}

/** Every endpoint of `/api/v1`, one line each. */
export function apiRouter(counter: Counter, options: RouteOptions): Router {
  const json = jsonBody(options.bodyLimitBytes);
  const campaigns = campaignHandlers(counter);
  const impressions = impressionHandlers(counter, options.batchLimit, options.outcomes);

  const router = new Router({ prefix: '/api/v1' });
  router.post('/campaigns', json, campaigns.create);
  router.get('/campaigns', campaigns.list);
  router.get('/campaigns/:id', campaigns.get);
  router.get('/campaigns/:id/stats', campaigns.stats);
  router.post('/impressions', json, impressions.record);
  router.get('/openapi.json', openApiHandler());
  return router;
}
