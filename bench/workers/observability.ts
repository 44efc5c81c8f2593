import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import Koa, { type Context } from 'koa';
import { pino } from 'pino';
import { observeRequests } from '../../src/http/ops.js';
import { requestId } from '../../src/http/request-id.js';
import { Inspector } from '../../src/inspector.js';
import { Metrics } from '../../src/metrics.js';
import { selfCpuSeconds } from '../lib/cpu.js';
import { createInProcessCampaigns, startInProcess } from '../lib/system.js';
import { workerMain } from '../lib/worker.js';

/**
 * What observability adds per request, measured in this process on real Koa contexts (no sockets):
 * the same route handler run bare, and run inside the request-id and metrics middleware with its
 * impression outcome counted. Also single impressions through the actor system with the inspector
 * detached (nobody watching) and attached (one watcher that keeps up). Figures are this process's
 * CPU time (neighbours on a shared machine inflate wall time), variants alternate round by round,
 * and medians are reported.
 */
export interface ObservabilityParams {
  readonly requests: number;
  readonly impressions: number;
  readonly rounds: number;
}

export interface ObservabilityResult {
  /** CPU ns per request, one per round. */
  readonly bare: number[];
  readonly observed: number[];
  /** CPU ns per impression through counter.impressions.record, one per round. */
  readonly detached: number[];
  readonly attached: number[];
}

const ROUTE = '/api/v1/impressions';
const ANSWER = { message: 'impression counted', counted: true };

workerMain<ObservabilityParams, ObservabilityResult>(async (p) => {
  const app = new Koa();
  const socket = new Socket();
  const context = (): Context => {
    const req = new IncomingMessage(socket);
    req.method = 'POST';
    req.url = ROUTE;
    req.headers = { 'content-type': 'application/json', host: '127.0.0.1' };
    return app.createContext(req, new ServerResponse(req));
  };

  const metrics = new Metrics({ source: { describe: () => Promise.reject(new Error('not scraped')) }, processMetrics: false });
  const observe = observeRequests(metrics, pino({ level: 'info' }));
  const outcomes = metrics.impressions;
  // What the router and handler do that both variants share.
  const handle = async (ctx: Context): Promise<void> => {
    (ctx as { _matchedRoute?: string })._matchedRoute = ROUTE;
    ctx.body = ANSWER;
  };
  const handleCounted = async (ctx: Context): Promise<void> => {
    (ctx as { _matchedRoute?: string })._matchedRoute = ROUTE;
    outcomes.add('counted');
    ctx.body = ANSWER;
  };
  const bare = (ctx: Context): Promise<void> => handle(ctx);
  const observed = (ctx: Context): Promise<void> => requestId(ctx, () => observe(ctx, () => handleCounted(ctx)));

  const timeRequests = async (chain: (ctx: Context) => Promise<void>, n: number): Promise<number> => {
    const c0 = selfCpuSeconds();
    for (let i = 0; i < n; i++) await chain(context());
    return ((selfCpuSeconds() - c0) * 1e9) / n;
  };

  const { system, counter } = startInProcess();
  const [campaign] = await createInProcessCampaigns(counter, 1);
  let user = 0;
  const timeImpressions = async (n: number): Promise<number> => {
    const c0 = selfCpuSeconds();
    for (let i = 0; i < n; i++) await counter.impressions.record({ campaignId: campaign, userId: `u${user++ % 100_000}`, adId: 'ad' });
    return ((selfCpuSeconds() - c0) * 1e9) / n;
  };
  const inspector = new Inspector({ system: system.registry.system, maxBufferBytes: 64 * 1024 * 1024 });

  // Warm-up: every path JIT-compiled before anything is measured.
  await timeRequests(bare, p.requests / 4);
  await timeRequests(observed, p.requests / 4);
  await timeImpressions(p.impressions / 4);

  const result: ObservabilityResult = { bare: [], observed: [], detached: [], attached: [] };
  for (let r = 0; r < p.rounds; r++) {
    result.bare.push(await timeRequests(bare, p.requests));
    result.observed.push(await timeRequests(observed, p.requests));
    if (inspector.attached) throw new Error('inspector attached with nobody watching');
    result.detached.push(await timeImpressions(p.impressions));
    const watcher = inspector.watch({ types: ['impressions'] });
    watcher.stream.resume(); // a client that keeps up
    result.attached.push(await timeImpressions(p.impressions));
    watcher.close();
  }
  system.stop();
  return result;
});
