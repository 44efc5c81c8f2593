import Router from '@koa/router';
import type { Counter } from '../counter.js';
import type { OutcomeRecorder } from '../metrics.js';
import { adHandlers } from './ads.js';
import { analyticsHandlers } from './analytics.js';
import type { BodyBudget } from './body-budget.js';
import type { BotFilter } from './bots.js';
import { campaignHandlers } from './campaigns.js';
import { clickHandlers } from './clicks.js';
import { impressionAnswerer, impressionHandlers, type ImpressionAnswerer } from './impressions.js';
import { jsonBody } from './json-body.js';
import { openApiHandler } from './openapi.js';

export interface RouteOptions {
  readonly bodyLimitBytes: number;
  /** Bytes of bodies buffered at once across requests (unbounded when absent). */
  readonly bodyBudget?: BodyBudget;
  readonly batchLimit: number;
  /** Where impression outcomes are counted (metrics). */
  readonly outcomes?: OutcomeRecorder;
  /** Where click outcomes are counted (metrics). */
  readonly clickOutcomes?: OutcomeRecorder;
  /** BOT_FILTER: which impressions and clicks are bots' (on when absent). */
  readonly bots?: BotFilter;
  /** The impression answerer, shared with the fast lane; built here when absent. */
  readonly impressions?: ImpressionAnswerer;
}

/** Every endpoint of `/api/v1`, one line each. */
export function apiRouter(counter: Counter, options: RouteOptions): Router {
  const json = jsonBody(options.bodyLimitBytes, options.bodyBudget);
  const campaigns = campaignHandlers(counter);
  const impressions = impressionHandlers(options.impressions ?? impressionAnswerer(counter, options.batchLimit, options.outcomes, options.bots));
  const ads = adHandlers(counter);
  const clicks = clickHandlers(counter, options.batchLimit, options.bots, options.clickOutcomes);
  const analytics = analyticsHandlers(counter);

  const router = new Router({ prefix: '/api/v1' });
  router.post('/campaigns', json, campaigns.create);
  router.get('/campaigns', campaigns.list);
  router.get('/campaigns/:id', campaigns.get);
  router.get('/campaigns/:id/stats', campaigns.stats);
  router.post('/impressions', json, impressions.record);
  router.post('/campaigns/:id/ads', json, ads.create);
  router.get('/campaigns/:id/ads', ads.listForCampaign);
  router.get('/ads', ads.listAll);
  router.get('/ads/analytics', analytics.ads);
  router.post('/clicks', json, clicks.record);
  router.get('/campaigns/:id/analytics', analytics.campaign);
  router.get('/campaigns/:id/timeseries', analytics.timeseries);
  router.get('/openapi.json', openApiHandler());
  return router;
}
