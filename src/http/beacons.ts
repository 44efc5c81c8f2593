import { createHmac, timingSafeEqual } from 'node:crypto';
import type { JSONSchemaType } from 'ajv';
import type { Context } from 'koa';
import { Counter as PromCounter, type Registry } from 'prom-client';
import type { Counter } from '../counter.js';
import { AppError, ValidationError } from '../errors.js';
import type { Auth } from './auth.js';
import { BOTS_ON, type BotFilter } from './bots.js';
import { NO_OUTCOMES, type OutcomeRecorder } from '../metrics.js';
import { isReplayOutcome, REPLAYED_HEADER, type ImpressionAnswerer } from './impressions.js';
import { compile, isHttpUrl, valid } from './validate.js';

/**
 * Signed beacons: tracking URLs an ad server puts into a page so that a browser can fire them (an
 * `<img>`, `fetch`, `navigator.sendBeacon`) without any key, while nobody can forge or alter one.
 * The query is `v=1&t=<type>&c=<campaign>&a=<ad>&u=<user>&e=<expiry ms>[&i=<impression id>][&r=<redirect>]`
 * (each value percent-encoded with encodeURIComponent, in exactly this order), then `&s=` and the
 * base64url HMAC-SHA256 of that string under BEACON_SECRET. api.md gives a test vector.
 */

export const BEACON_PATH = '/api/v1/beacon';

export interface BeaconFields {
  readonly type: 'impression' | 'click';
  readonly campaignId: string;
  readonly adId: string;
  readonly userId: string;
  /** Milliseconds since the epoch; the beacon is refused from this instant on. */
  readonly expiresAt: number;
  readonly impressionId?: string;
  /** Click beacons only: where the browser is sent after the click is counted. */
  readonly redirect?: string;
}

/** The signed string: the beacon's fields in their one canonical order and encoding. */
export function canonical(f: BeaconFields): string {
  const e = encodeURIComponent;
  let text = `v=1&t=${f.type}&c=${e(f.campaignId)}&a=${e(f.adId)}&u=${e(f.userId)}&e=${f.expiresAt}`;
  if (f.impressionId !== undefined) text += `&i=${e(f.impressionId)}`;
  if (f.redirect !== undefined) text += `&r=${e(f.redirect)}`;
  return text;
}

export function signature(secret: string | Buffer, f: BeaconFields): string {
  return createHmac('sha256', secret).update(canonical(f)).digest('base64url');
}

/** The beacon's path and query, signed. */
export function beaconPath(secret: string | Buffer, f: BeaconFields): string {
  return `${BEACON_PATH}?${canonical(f)}&s=${signature(secret, f)}`;
}

export type Refusal = 'malformed' | 'bad_signature' | 'expired';

/** Reads and checks a beacon's query; the fields, or why it is refused. */
export function verifyBeacon(secret: string | Buffer, query: string, now: number): BeaconFields | Refusal {
  const params = new URLSearchParams(query);
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    return all.length === 1 ? all[0] : all.length === 0 ? undefined : '\u0000';
  };
  const [v, t, c, a, u, e, s, i, r] = ['v', 't', 'c', 'a', 'u', 'e', 's', 'i', 'r'].map(one);
  if (v !== '1' || (t !== 'impression' && t !== 'click') || c === undefined || a === undefined || u === undefined || s === undefined) return 'malformed';
  if (e === undefined || !/^[1-9]\d{0,15}$/.test(e) || [c, a, u, s, i, r].includes('\u0000')) return 'malformed';
  const fields: BeaconFields = { type: t, campaignId: c, adId: a, userId: u, expiresAt: Number(e), ...(i !== undefined && { impressionId: i }), ...(r !== undefined && { redirect: r }) };
  const want = Buffer.from(signature(secret, fields));
  const got = Buffer.from(s);
  if (got.length !== want.length || !timingSafeEqual(got, want)) return 'bad_signature';
  if (now >= fields.expiresAt) return 'expired';
  return fields;
}

const signed = (what: string) => ({ description: `${what} (signed; checked with the signature, so a repeated one is refused with 403)` });

/** A beacon's query: the signed fields, `format` and `cb`; no other parameter. */
export const beaconQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    v: signed('version, 1'),
    t: signed('impression or click'),
    c: signed('campaign id'),
    a: signed('ad id'),
    u: signed('user id'),
    e: signed('expiry, ms since the epoch'),
    i: signed('impression id'),
    r: signed('redirect URL of a click'),
    s: { description: 'the base64url HMAC-SHA256 of the rest under BEACON_SECRET' },
    format: { description: 'gif: answer a 1×1 GIF instead of 204' },
    cb: { description: "a cache-buster (an ad server's [CACHEBUSTER] macro), not signed and ignored: answers are never cached anyway" },
  },
} as const;

export interface CreateBeaconBody {
  type: 'impression' | 'click';
  campaign_id: string;
  ad_id: string;
  user_id: string;
  impression_id?: string | null;
  expires_in?: number | null;
  redirect?: string | null;
}

const id = (description: string) => ({ type: 'string', minLength: 1, maxLength: 256, description }) as const;

export const createBeaconSchema: JSONSchemaType<CreateBeaconBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'campaign_id', 'ad_id', 'user_id'],
  properties: {
    type: { type: 'string', enum: ['impression', 'click'] },
    campaign_id: id('the campaign'),
    ad_id: id('the ad'),
    user_id: id('the viewer'),
    impression_id: { ...id('optional idempotency key (a click beacon\'s click_id): firing the beacon again answers as the first time'), nullable: true },
    expires_in: { type: 'integer', minimum: 1, maximum: 2_592_000, nullable: true, description: 'seconds the URL stays valid (default 86400, at most 30 days)' },
    redirect: { type: 'string', minLength: 1, maxLength: 2048, nullable: true, description: 'click beacons only: an http(s) URL the browser is sent to (302)' },
  },
};
const validateCreate = compile(createBeaconSchema);

/** The smallest transparent GIF (1×1), for `format=gif`. */
export const PIXEL = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

export interface BeaconOptions {
  readonly counter: Counter;
  /** BEACON_SECRET. */
  readonly secret: string | Buffer;
  /** The impression answerer POST /impressions uses: a beacon counts exactly as a POST would. */
  readonly impressions: ImpressionAnswerer;
  readonly auth?: Auth;
  readonly bots?: BotFilter;
  /** Where refusals are counted by reason. */
  readonly registry?: Registry;
  /** Where click outcomes are counted (the series POST /clicks counts in). */
  readonly clickOutcomes?: OutcomeRecorder;
}

// Firing a beacon is a CORS "simple request" (GET, or sendBeacon's POST of text/plain): no preflight.
const CORS = { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store', 'Timing-Allow-Origin': '*' };

export function beaconHandlers(options: BeaconOptions) {
  const { counter, secret, impressions } = options;
  const bots = options.bots ?? BOTS_ON;
  const refused = new PromCounter({
    name: 'impression_counter_beacons_refused_total',
    help: 'Beacons refused (403), by reason: malformed, bad_signature (tampered or forged), expired.',
    labelNames: ['reason'],
    registers: options.registry ? [options.registry] : [],
  });
  for (const reason of ['malformed', 'bad_signature', 'expired']) refused.inc({ reason }, 0);

  return {
    /** POST /beacons (write key): a signed URL for a page. */
    create(ctx: Context): void {
      const body = valid(validateCreate, ctx.request.body);
      if (body.redirect != null && body.type !== 'click') throw new ValidationError('field "redirect" is for click beacons only');
      if (body.redirect != null && !isHttpUrl(body.redirect)) throw new ValidationError('field "redirect" must be an http or https URL');
      const fields: BeaconFields = {
        type: body.type,
        campaignId: body.campaign_id,
        adId: body.ad_id,
        userId: body.user_id,
        expiresAt: counter.analytics.now() + (body.expires_in ?? 86_400) * 1000,
        ...(body.impression_id != null && { impressionId: body.impression_id }),
        ...(body.redirect != null && { redirect: body.redirect }),
      };
      const path = beaconPath(secret, fields);
      ctx.status = 201;
      ctx.set('Location', path);
      ctx.body = { url: `${ctx.protocol}://${ctx.host}${path}`, expires_at: new Date(fields.expiresAt).toISOString() };
    },

    /** GET (or sendBeacon's POST) of a signed URL: counts it, answers 204, a GIF, or a 302. */
    async fire(ctx: Context): Promise<void> {
      ctx.set(CORS);
      const limited = await options.auth?.limitAddress(ctx.req);
      if (limited !== undefined) ctx.set(limited);
      const fields = verifyBeacon(secret, ctx.querystring, counter.analytics.now());
      if (typeof fields === 'string') {
        refused.inc({ reason: fields });
        throw new AppError(403, fields === 'expired' ? 'the beacon has expired' : 'the beacon is not validly signed (altered, incomplete or forged)');
      }
      const agent = ctx.get('User-Agent') || undefined;
      let outcome: string;
      try {
        outcome =
          fields.type === 'impression'
            ? await countImpression(impressions, fields, agent)
            : await countClick(counter, fields, bots.forRequest(agent)(undefined), options.auth?.address(ctx.req), options.clickOutcomes ?? NO_OUTCOMES);
      } catch (err) {
        // A click must never strand its viewer: the redirect is followed even when counting failed.
        if (fields.redirect === undefined) throw err;
        outcome = 'error';
      }
      // A beacon fired again with its id says what it did the first time, and that this is a replay,
      // as POST /impressions and /clicks do.
      if (isReplayOutcome(outcome)) ctx.set(REPLAYED_HEADER, 'true');
      ctx.set('X-Beacon-Outcome', firstOutcome(outcome));
      if (fields.redirect !== undefined) {
        ctx.status = 302;
        ctx.set('Location', fields.redirect);
        ctx.body = '';
      } else if (ctx.query.format === 'gif') {
        ctx.type = 'image/gif';
        ctx.body = PIXEL;
      } else {
        ctx.status = 204;
      }
    },
  };
}

/** What X-Beacon-Outcome says: a replay is reported as its first outcome (Idempotent-Replayed marks it). */
function firstOutcome(outcome: string): string {
  return outcome === 'replayed_counted' ? 'counted' : outcome === 'replayed_duplicate' ? 'duplicate' : outcome;
}

async function countImpression(answer: ImpressionAnswerer, f: BeaconFields, agent: string | undefined): Promise<string> {
  const result = (await answer({ campaign_id: f.campaignId, user_id: f.userId, ad_id: f.adId, ...(f.impressionId !== undefined && { impression_id: f.impressionId }) }, agent)) as {
    counted: boolean;
    bot_filtered?: true;
    replayed?: true;
  };
  const outcome = result.counted ? 'counted' : result.bot_filtered ? 'bot_filtered' : 'duplicate';
  return result.replayed ? `replayed_${outcome}` : outcome;
}

/** A click beacon's `i` is its click_id: firing it again answers as the first time, like an impression beacon's. */
async function countClick(counter: Counter, f: BeaconFields, bot: boolean, ipAddress: string | undefined, tally: OutcomeRecorder): Promise<string> {
  const now = counter.analytics.now();
  let answer: Awaited<ReturnType<Counter['clicks']['record']>>;
  try {
    answer = await counter.clicks.record([{ campaignId: f.campaignId, adId: f.adId, userId: f.userId, ipAddress, at: now, bot, ...(f.impressionId !== undefined && { clickId: f.impressionId }) }], now);
  } catch (err) {
    tally.add(err instanceof AppError && err.status === 404 ? 'not_found' : err instanceof AppError && err.status === 503 ? 'unavailable' : 'error');
    throw err;
  }
  const outcome = answer.outcomes[0];
  tally.add(outcome);
  switch (outcome) {
    case 'counted':
    case 'duplicate':
    case 'bot_filtered':
    case 'replayed_counted':
    case 'replayed_duplicate':
      return outcome;
    default:
      throw await counter.clicks.outcomeError(outcome, f.campaignId, answer.retryAfterMs);
  }
}
