import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import Koa, { type Context, type Middleware } from 'koa';
import { KeyRing, MemoryKeyStore } from '../../src/auth/keys.js';
import { apiHeaders, Auth } from '../../src/http/auth.js';
import { RateLimits } from '../../src/http/rate-limit.js';
import { ROUTES, type Route } from '../../src/http/route-table.js';
import { selfCpuSeconds } from '../lib/cpu.js';
import { workerMain } from '../lib/worker.js';

/**
 * What API keys and rate limits add per request, in this process on real Koa contexts (no sockets):
 * the same handler run bare, and behind the API headers and the auth guard with a key (found by id,
 * its SHA-256 digest compared in constant time, the route's scope and campaign checked) and a
 * per-key rate-limit point (rate-limiter-flexible, memory). CPU time, variants alternating round by
 * round; medians are reported.
 */
export interface AuthParams {
  readonly requests: number;
  readonly rounds: number;
}

export interface AuthResult {
  /** CPU ns per request, one per round. */
  readonly bare: number[];
  /** Write key on POST /api/v1/impressions, with rate limits. */
  readonly write: number[];
  /** Campaign-limited read key on GET /api/v1/campaigns/{id}/stats, with rate limits. */
  readonly read: number[];
  /** Write key, no rate limits. */
  readonly unlimited: number[];
}

const ANSWER = { message: 'impression counted', counted: true };

workerMain<AuthParams, AuthResult>(async (p) => {
  const app = new Koa();
  const socket = new Socket();
  const ring = new KeyRing(new MemoryKeyStore(), 'bench-admin-key-0123456789abcdefghijkl');
  const write = (await ring.create({ scopes: ['write'] }, 0)).key;
  const read = (await ring.create({ scopes: ['read'], campaigns: ['c1', 'c2'] }, 0)).key;
  const context = (method: string, url: string, key: string, params?: Record<string, string>): Context => {
    const req = new IncomingMessage(socket);
    req.method = method;
    req.url = url;
    req.headers = { 'content-type': 'application/json', host: '127.0.0.1', authorization: `Bearer ${key}` };
    const ctx = app.createContext(req, new ServerResponse(req));
    // What the router sets before a route's guard runs.
    if (params !== undefined) ctx.params = params;
    return ctx;
  };
  const route = (method: string, path: string): Route => ROUTES.find((r) => r.method === method && r.path === path) as Route;
  const guardOf = (auth: Auth, r: Route) => auth.guard(r) as Middleware;
  const limits = new RateLimits({ read: { points: 1e9, seconds: 1 }, write: { points: 1e9, seconds: 1 } });
  const limited = new Auth({ keys: ring, limits });
  const unlimited = new Auth({ keys: ring });
  const impressions = route('post', '/api/v1/impressions');
  const stats = route('get', '/api/v1/campaigns/{id}/stats');
  const guard = guardOf(limited, impressions);
  const statsGuard = guardOf(limited, stats);
  const guardUnlimited = guardOf(unlimited, impressions);
  const handle = async (ctx: Context): Promise<void> => {
    ctx.body = ANSWER;
  };
  const time = async (chain: (ctx: Context) => Promise<void>, make: () => Context, n: number): Promise<number> => {
    const c0 = selfCpuSeconds();
    for (let i = 0; i < n; i++) await chain(make());
    return ((selfCpuSeconds() - c0) * 1e9) / n;
  };
  const post = () => context('POST', '/api/v1/impressions', write);
  const getStats = () => context('GET', '/api/v1/campaigns/c2/stats', read, { id: 'c2' });
  const bareChain = (ctx: Context) => handle(ctx);
  const with_ = (g: typeof guard) => (ctx: Context) => apiHeaders(ctx, () => g(ctx, () => handle(ctx)));

  const r: AuthResult = { bare: [], write: [], read: [], unlimited: [] };
  await time(bareChain, post, p.requests / 4);
  await time(with_(guard), post, p.requests / 4);
  for (let round = 0; round < p.rounds; round++) {
    r.bare.push(await time(bareChain, post, p.requests));
    r.write.push(await time(with_(guard), post, p.requests));
    r.read.push(await time(with_(statsGuard), getStats, p.requests));
    r.unlimited.push(await time(with_(guardUnlimited), post, p.requests));
  }
  return r;
});
