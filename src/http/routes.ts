import Router from '@koa/router';
import type { Registry } from 'prom-client';
import type { Counter } from '../counter.js';
import type { OutcomeRecorder } from '../metrics.js';
import type { KeyRing } from '../auth/keys.js';
import { adHandlers } from './ads.js';
import { analyticsHandlers } from './analytics.js';
import { bodyCampaigns, type Auth } from './auth.js';
import { beaconHandlers } from './beacons.js';
import type { BodyBudget } from './body-budget.js';
import type { BotFilter } from './bots.js';
import { campaignHandlers } from './campaigns.js';
import { clickHandlers } from './clicks.js';
import { impressionAnswerer, impressionHandlers, type ImpressionAnswerer } from './impressions.js';
import { jsonBody } from './json-body.js';
import { keyHandlers } from './keys.js';
import { openApiHandler } from './openapi.js';

export interface RouteOptions {
  readonly bodyLimitBytes: number;
  /** Bytes of bodies buffered at once across requests (unbounded when absent). */
  readonly bodyBudget?: BodyBudget;
  readonly batchLimit: number;
  /** Where impression outcomes are counted (metrics). */
  readonly outcomes?: OutcomeRecorder;
  /** BOT_FILTER: which impressions and clicks are bots' (on when absent). */
  readonly bots?: BotFilter;
  /** The impression answerer, shared with the fast lane; built here when absent. */
  readonly impressions?: ImpressionAnswerer;
  /** The API keys `/keys` manages (none when absent). */
  readonly keys?: KeyRing;
  /** BEACON_SECRET: `/beacons` and `/beacon` exist only when one is given. */
  readonly beaconSecret?: string | Buffer;
  readonly auth?: Auth;
  /** Where beacon refusals are counted. */
  readonly registry?: Registry;
}

/** Every endpoint of `/api/v1`, one line each. */
export function apiRouter(counter: Counter, options: RouteOptions): Router {
  const json = jsonBody(options.bodyLimitBytes, options.bodyBudget);
  const campaigns = campaignHandlers(counter);
  const answerer = options.impressions ?? impressionAnswerer(counter, options.batchLimit, options.outcomes, options.bots);
  const impressions = impressionHandlers(answerer);
  const ads = adHandlers(counter);
  const clicks = clickHandlers(counter, options.batchLimit, options.bots);
  const analytics = analyticsHandlers(counter);

  const router = new Router({ prefix: '/api/v1' });
  router.post('/campaigns', json, campaigns.create);
  router.get('/campaigns', campaigns.list);
  router.get('/campaigns/:id', campaigns.get);
  router.get('/campaigns/:id/stats', campaigns.stats);
  // Scopes: see ROUTE_SCOPES (auth.ts); `bodyCampaigns` holds a campaign-limited key to its campaigns.
  router.post('/impressions', json, bodyCampaigns, impressions.record);
  router.post('/campaigns/:id/ads', json, ads.create);
  router.get('/campaigns/:id/ads', ads.listForCampaign);
  router.get('/ads', ads.listAll);
  router.get('/ads/analytics', analytics.ads);
  router.post('/clicks', json, bodyCampaigns, clicks.record);
  router.get('/campaigns/:id/analytics', analytics.campaign);
  router.get('/campaigns/:id/timeseries', analytics.timeseries);
  router.get('/openapi.json', openApiHandler());
  if (options.keys) {
    const keys = keyHandlers(options.keys);
    router.post('/keys', json, keys.create);
    router.get('/keys', keys.list);
    router.delete('/keys/:key_id', keys.revoke);
  }
  if (options.beaconSecret !== undefined) {
    const beacons = beaconHandlers({ counter, secret: options.beaconSecret, impressions: answerer, auth: options.auth, bots: options.bots, registry: options.registry });
    router.post('/beacons', json, bodyCampaigns, beacons.create);
    router.get('/beacon', beacons.fire);
    router.post('/beacon', beacons.fire);
  }
  return router;
}
