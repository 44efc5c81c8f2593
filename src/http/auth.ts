import type { IncomingMessage } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import { Counter, type Registry } from 'prom-client';
import { type KeyRing, type Principal, type Scope } from '../auth/keys.js';
import { isLoopback } from '../config.js';
import { AppError } from '../errors.js';
import type { Limit, RateLimits } from './rate-limit.js';

/** `public`: served to anyone (health, the OpenAPI document, signed beacons, which carry their own proof). */
export type RouteScope = Scope | 'public';

/**
 * Every route's scope, in one place: the guard enforces it and the OpenAPI document declares it.
 * Keys are `METHOD /path` with `{name}` for path parameters; a `{id}` names a campaign.
 */
export const ROUTE_SCOPES: Readonly<Record<string, RouteScope>> = {
  'POST /api/v1/campaigns': 'admin',
  'GET /api/v1/campaigns': 'read',
  'GET /api/v1/campaigns/{id}': 'read',
  'GET /api/v1/campaigns/{id}/stats': 'read',
  'POST /api/v1/impressions': 'write',
  'POST /api/v1/campaigns/{id}/ads': 'admin',
  'GET /api/v1/campaigns/{id}/ads': 'read',
  'GET /api/v1/ads': 'read',
  'GET /api/v1/ads/analytics': 'read',
  'POST /api/v1/clicks': 'write',
  'GET /api/v1/campaigns/{id}/analytics': 'read',
  'GET /api/v1/campaigns/{id}/timeseries': 'read',
  'GET /api/v1/openapi.json': 'public',
  'POST /api/v1/keys': 'admin',
  'GET /api/v1/keys': 'admin',
  'DELETE /api/v1/keys/{key_id}': 'admin',
  'POST /api/v1/beacons': 'write',
  'GET /api/v1/beacon': 'public',
  'POST /api/v1/beacon': 'public',
  'POST /api/v1/admin/redis/accept-reset': 'admin',
  'GET /metrics': 'admin',
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /debug/': 'admin',
  'GET /debug/actors': 'admin',
  'GET /debug/events': 'admin',
};

/** Routes that cover every campaign at once: a key limited to some campaigns cannot use them. */
const ALL_CAMPAIGNS = new Set(['GET /api/v1/campaigns', 'GET /api/v1/ads', 'GET /api/v1/ads/analytics']);

interface Route {
  readonly name: string;
  readonly scope: RouteScope;
  readonly everyCampaign: boolean;
}

interface Pattern extends Route {
  readonly method: string;
  readonly regex: RegExp;
  readonly campaign: boolean;
}

/** Routes without parameters, by method then path (no string built per request). */
const EXACT = new Map<string, Map<string, Route>>();
const PATTERNS: Pattern[] = [];
for (const [name, scope] of Object.entries(ROUTE_SCOPES)) {
  const [method, path] = name.split(' ');
  const route = { name, scope, everyCampaign: ALL_CAMPAIGNS.has(name) };
  if (!path.includes('{')) {
    let byPath = EXACT.get(method);
    if (byPath === undefined) EXACT.set(method, (byPath = new Map()));
    byPath.set(path, route);
  }
  else PATTERNS.push({ ...route, method, regex: new RegExp(`^${path.replace(/\{\w+\}/g, '([^/]+)')}$`), campaign: path.includes('{id}') });
}

/** The route a request names, and the campaign its path names (if any). */
export function routeOf(method: string, path: string): { route: Route; campaign?: string } | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  const exact = EXACT.get(m)?.get(path);
  if (exact !== undefined) return { route: exact };
  for (const p of PATTERNS) {
    if (p.method !== m) continue;
    const found = p.regex.exec(path);
    if (found === null) continue;
    let campaign: string | undefined;
    if (p.campaign) {
      try {
        campaign = decodeURIComponent(found[1]);
      } catch {
        campaign = found[1];
      }
    }
    return { route: p, campaign };
  }
  return undefined;
}

/**
 * The client's address. Without TRUST_PROXY it is the socket's peer; with it, the last address a
 * proxy appended to `X-Forwarded-For` (the one the nearest trusted proxy saw; addresses before it were
 * written by the client and prove nothing).
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  const peer = req.socket.remoteAddress ?? '';
  if (!trustProxy) return peer;
  const forwarded = req.headers['x-forwarded-for'];
  if (forwarded === undefined) return peer;
  const list = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
  const last = list[list.length - 1].trim();
  return last === '' ? peer : last;
}

export interface AuthOptions {
  readonly keys: KeyRing;
  /** AUTH=off: every request acts as admin (a trusted network). */
  readonly off?: boolean;
  /** TRUST_PROXY: `X-Forwarded-For` names the client. */
  readonly trustProxy?: boolean;
  readonly limits?: RateLimits;
  /** Where refusals are counted (by reason, and 429s by limit and key id). */
  readonly registry?: Registry;
}

const LOOPBACK: Principal = Object.freeze({ id: 'loopback', admin: true, write: true, read: true });
const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', admin: true, write: true, read: true });
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="impression-counter"' };
const INVALID = { 'WWW-Authenticate': 'Bearer realm="impression-counter", error="invalid_token"' };
const BEARER = /^Bearer +(\S+)$/i;

/** The key of `Bearer <key>`; the common exact form is read without a regex (it runs on every request). */
function bearer(header: string): string | undefined {
  if (header.startsWith('Bearer ') && header.indexOf(' ', 7) === -1 && header.length > 7) return header.slice(7);
  return BEARER.exec(header)?.[1];
}

/**
 * Who may call what. API keys (`Authorization: Bearer <key>`) carry scopes; with no ADMIN_KEY, a
 * loopback client without a key acts as admin and every other client needs a key (protected by
 * default, as Redis serves only loopback until a password is set). A loopback request that came
 * through a proxy (it carries `X-Forwarded-For`) is not trusted as loopback.
 */
export class Auth {
  private readonly keys: KeyRing;
  private readonly off: boolean;
  private readonly trustProxy: boolean;
  private readonly limits: RateLimits | undefined;
  private readonly refused: Counter<'reason'>;
  private readonly limited_: Counter<'limit' | 'key_id'>;

  constructor(options: AuthOptions) {
    this.keys = options.keys;
    this.off = options.off === true;
    this.trustProxy = options.trustProxy === true;
    this.limits = options.limits;
    const registers = options.registry ? [options.registry] : [];
    this.refused = new Counter({
      name: 'impression_counter_auth_refused_total',
      help: 'Requests refused by the key guard: 401 (missing, unknown, revoked, malformed) and 403 (scope, campaign).',
      labelNames: ['reason'],
      registers,
    });
    this.limited_ = new Counter({
      name: 'impression_counter_rate_limited_total',
      help: 'Requests answered 429, by limit and by key id (or "address" for requests without a key).',
      labelNames: ['limit', 'key_id'],
      registers,
    });
    this.limits?.onRefusal((limit, keyId) => this.limited_.inc({ limit, key_id: keyId }));
  }

  /** The Koa guard: identifies the caller, checks the route's scope and campaign, takes a rate-limit point. */
  middleware(): Middleware {
    return (ctx: Context, next: Next): Promise<void> => {
      const path = ctx.path;
      const found = routeOf(ctx.method, path);
      if (found?.route.scope === 'public') return next();
      const token = path.startsWith('/debug/') && typeof ctx.query.token === 'string' ? ctx.query.token : undefined;
      const principal = this.identify(ctx.req, token);
      ctx.state.principal = principal;
      if (found === undefined) return next();
      ctx.state.auth = this;
      this.authorize(principal, found.route, found.campaign);
      if (this.limits === undefined || principal === LOOPBACK) return next();
      return this.limited(ctx, next, principal, found.route);
    };
  }

  private limited(ctx: Context, next: Next, principal: Principal, route: Route): Promise<void> {
    return this.limit(principal, route.scope as Scope, ctx.req).then(async (headers) => {
      if (route.name === 'POST /api/v1/campaigns') await this.limits?.take('campaigns', principal.id);
      if (headers !== undefined) ctx.set(headers);
      return next();
    });
  }

  /**
   * The caller a request acts as: its key's principal, or (with no key) the protected default's
   * loopback admin. Throws 401 otherwise. `token` is a key given in the query (the inspector page).
   */
  identify(req: IncomingMessage, token?: string): Principal {
    if (this.off) return ANONYMOUS;
    const header = req.headers.authorization;
    const key = header === undefined ? token : bearer(header);
    if (key !== undefined) {
      const found = this.keys.authenticate(key);
      if (found === 'unknown') throw this.refuse('unknown', new AppError(401, 'the API key is not valid', INVALID));
      if (found === 'revoked') throw this.refuse('revoked', new AppError(401, 'the API key was revoked', INVALID));
      return found;
    }
    if (header !== undefined) throw this.refuse('malformed', new AppError(401, 'the Authorization header must be "Bearer <key>"', INVALID));
    if (!this.keys.hasRoot && this.fromLoopback(req)) return LOOPBACK;
    this.refused.inc({ reason: 'missing' });
    if (!this.keys.configured) {
      throw new AppError(
        401,
        'this service has no API keys yet and serves loopback clients only: set ADMIN_KEY (at least 32 characters), create keys with POST /api/v1/keys and send them as Authorization: Bearer <key>; or set AUTH=off on a trusted network',
        CHALLENGE,
      );
    }
    throw new AppError(401, 'an API key is required: send Authorization: Bearer <key>', CHALLENGE);
  }

  /** Checks the route's scope and campaign (403), counting refusals. */
  authorize(principal: Principal, route: Route, campaign?: string): void {
    try {
      authorize(principal, route, campaign);
    } catch (err) {
      throw this.refuse((err as ForbiddenError).reason, err as AppError);
    }
  }

  /** Checks the campaigns a body names (403), counting refusals. */
  checkBody(principal: Principal | undefined, body: unknown): void {
    try {
      checkBodyCampaigns(principal, body);
    } catch (err) {
      throw this.refuse('campaign', err as AppError);
    }
  }

  /** Takes a rate-limit point for a request already identified; resolves with the headers to send. */
  limit(principal: Principal, scope: Scope, req: IncomingMessage): Promise<Record<string, string> | undefined> {
    if (this.limits === undefined || principal === LOOPBACK) return Promise.resolve(undefined);
    if (principal === ANONYMOUS) return this.limits.take(scope, clientAddress(req, this.trustProxy), 'address');
    return this.limits.take(scope, principal.id);
  }

  /** For requests without a key (signed beacons): a point from the client address's allowance. */
  limitAddress(req: IncomingMessage): Promise<Record<string, string> | undefined> {
    if (this.limits === undefined || this.fromLoopback(req)) return Promise.resolve(undefined);
    return this.limits.take('address' satisfies Limit, clientAddress(req, this.trustProxy), 'address');
  }

  private refuse(reason: string, err: AppError): AppError {
    this.refused.inc({ reason });
    return err;
  }

  /** The client's address as this service sees it (TRUST_PROXY applied). */
  address(req: IncomingMessage): string {
    return clientAddress(req, this.trustProxy);
  }

  private fromLoopback(req: IncomingMessage): boolean {
    if (!isLoopback(req.socket.remoteAddress ?? '')) return false;
    if (req.headers['x-forwarded-for'] === undefined) return true;
    // Through a proxy on this machine: the client is whoever the proxy names, trusted only as such.
    return this.trustProxy && isLoopback(clientAddress(req, true));
  }
}

/** Throws 403 unless the principal holds the route's scope and, for a campaign's route, that campaign. */
export function authorize(principal: Principal, route: Route, campaign?: string): void {
  const scope = route.scope;
  if (scope !== 'public' && !principal[scope]) throw new ForbiddenError('scope', `this API key lacks the "${scope}" scope this call needs`);
  if (principal.campaigns === undefined) return;
  if (route.everyCampaign) throw new ForbiddenError('campaign', 'this API key is limited to some campaigns, and this call covers every campaign; ask for each campaign by its id');
  if (campaign !== undefined) checkCampaign(principal, campaign);
}

function checkCampaign(principal: Principal, campaign: string): void {
  if (principal.campaigns !== undefined && !principal.campaigns.has(campaign)) {
    throw new ForbiddenError('campaign', `this API key is not allowed campaign ${JSON.stringify(campaign)}`);
  }
}

/**
 * For a key limited to some campaigns: every `campaign_id` in a body (one object or a batch) must be
 * one of them. A batch naming another campaign is refused whole: nothing of it is counted.
 */
export function checkBodyCampaigns(principal: Principal | undefined, body: unknown): void {
  if (principal?.campaigns === undefined) return;
  const items = Array.isArray(body) ? body : [body];
  for (const item of items) {
    const id = (item as { campaign_id?: unknown } | null)?.campaign_id;
    if (typeof id === 'string') checkCampaign(principal, id);
  }
}

/** Koa middleware for write routes whose body names campaigns (after the JSON reader). */
export async function bodyCampaigns(ctx: Context, next: Next): Promise<void> {
  const principal = ctx.state.principal as Principal | undefined;
  if (principal?.campaigns !== undefined) (ctx.state.auth as Auth).checkBody(principal, ctx.request.body);
  await next();
}

/** A 403 with what it was about (`scope`, `campaign`), for the refusal metric. */
export class ForbiddenError extends AppError {
  constructor(
    readonly reason: 'scope' | 'campaign',
    message: string,
  ) {
    super(403, message);
  }
}

/** Headers every API answer carries: never sniffed as another type, never cached. */
export function apiHeaders(ctx: Context, next: Next): Promise<void> {
  // Set before the answer (on the raw response: Koa's ctx.set costs more per call), so that a route
  // of its own (the event stream, metrics) may still replace them.
  const res = ctx.res;
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (ctx.path.startsWith('/api/')) res.setHeader('Cache-Control', 'no-store');
  return next();
}

