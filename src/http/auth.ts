import type { IncomingMessage } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import { Counter, type Registry } from 'prom-client';
import { type KeyRing, type Principal, type Scope } from '../auth/keys.js';
import { isLoopback } from '../config.js';
import { AppError } from '../errors.js';
import type { Limit, RateLimits } from './rate-limit.js';

/**
 * What the guard reads of a route-table entry. Declared here rather than imported: the table names
 * every handler, some of which use this guard, so importing it back would close a circle.
 */
interface Route {
  readonly method: string;
  readonly path: string;
  readonly scope: Scope | 'public';
  readonly everyCampaign?: true;
  readonly tokenInQuery?: true;
}
type GuardedRoute = Pick<Route, 'scope' | 'everyCampaign'>;

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
      help: 'Requests refused by the key guard: 401 (missing, unknown, revoked, expired, malformed) and 403 (scope, campaign).',
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

  /**
   * The Koa guard of one route-table entry, from its `scope` (routes.ts puts it in front of the
   * route's handler): identifies the caller, checks the scope and the campaign its path names, and
   * takes a rate-limit point. A public route has none. Routes marked `tokenInQuery` (the inspector's,
   * the live figures) also take the key as `?token=`, since EventSource cannot send headers.
   */
  guard(route: Route): Middleware | undefined {
    if (route.scope === 'public') return undefined;
    const scope = route.scope;
    const tokenInQuery = route.tokenInQuery === true;
    const createsCampaign = route.method === 'post' && route.path === '/api/v1/campaigns';
    const campaignInPath = route.path.includes('{id}');
    return (ctx: Context, next: Next): Promise<void> => {
      const token = tokenInQuery && typeof ctx.query.token === 'string' ? ctx.query.token : undefined;
      const principal = this.identify(ctx.req, token);
      ctx.state.principal = principal;
      ctx.state.auth = this;
      this.authorize(principal, route, campaignInPath ? (ctx.params as Record<string, string> | undefined)?.id : undefined);
      if (this.limits === undefined || principal === LOOPBACK) return next();
      return this.limit(principal, scope, ctx.req).then(async (headers) => {
        if (createsCampaign) await this.limits?.take('campaigns', principal.id);
        if (headers !== undefined) ctx.set(headers);
        return next();
      });
    };
  }

  /**
   * For a request no route took (an unknown path, or a method the path does not take): the caller is
   * still identified, so that beyond the protected default only key holders learn which routes exist
   * (401 before 404 or 405). Put after the routes.
   */
  unrouted(): Middleware {
    return (ctx: Context, next: Next): Promise<void> => {
      const token = ctx.path.startsWith('/debug/') && typeof ctx.query.token === 'string' ? ctx.query.token : undefined;
      ctx.state.principal = this.identify(ctx.req, token);
      return next();
    };
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
      if (found === 'expired') throw this.refuse('expired', new AppError(401, 'the API key has expired', INVALID));
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
  authorize(principal: Principal, route: GuardedRoute, campaign?: string): void {
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
export function authorize(principal: Principal, route: GuardedRoute, campaign?: string): void {
  const scope = route.scope;
  if (scope !== 'public' && !principal[scope]) throw new ForbiddenError('scope', `this API key lacks the "${scope}" scope this call needs`);
  if (principal.campaigns === undefined) return;
  if (route.everyCampaign === true) throw new ForbiddenError('campaign', 'this API key is limited to some campaigns, and this call covers every campaign; ask for each campaign by its id');
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

