import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../errors.js';

/** A limit: `points` requests per `seconds`. */
export interface Rate {
  readonly points: number;
  readonly seconds: number;
}

/** What is limited: requests per key by the route's scope, keyless requests per address, campaign creation per key. */
export interface RateLimitConfig {
  readonly read?: Rate;
  readonly write?: Rate;
  readonly admin?: Rate;
  /** Requests that carry no key (signed beacons, AUTH=off), per client address. */
  readonly address?: Rate;
  /** Campaigns created per key. */
  readonly campaigns?: Rate;
}

export type Limit = keyof RateLimitConfig;

/** `1000/s`, `60/m`, `100/h`, `5000/d`, or `off`. */
export function parseRate(raw: string): Rate | null | undefined {
  if (raw === 'off') return null;
  const m = /^([1-9]\d{0,8})\/(s|m|h|d)$/.exec(raw);
  return m ? { points: Number(m[1]), seconds: { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'] } : undefined;
}

/**
 * Rate limits through rate-limiter-flexible: fixed windows per key, in this process or (STORE=redis)
 * in Redis so that a limit holds across every node. When Redis cannot answer, each node falls back
 * to a limiter of its own (the library's insurance limiter) rather than refusing or letting all in.
 * A refusal is a 429 with `Retry-After` and the IETF `RateLimit` / `RateLimit-Policy` fields.
 */
export class RateLimits {
  private readonly limiters = new Map<Limit, { limiter: RateLimiterAbstract; rate: Rate; policy: string }>();
  private refused: (limit: Limit, label: string) => void = () => undefined;

  constructor(config: RateLimitConfig, redis?: Redis | Cluster) {
    for (const [name, rate] of Object.entries(config) as [Limit, Rate | undefined][]) {
      if (rate == null) continue;
      const options = { points: rate.points, duration: rate.seconds, keyPrefix: `ic:rl:${name}` };
      const memory = new RateLimiterMemory(options);
      const limiter = redis ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: memory }) : memory;
      this.limiters.set(name, { limiter, rate, policy: `"${name}";q=${rate.points};w=${rate.seconds}` });
    }
  }

  /** Called with each 429: the limit, and `label` as given to `take` (for metrics). */
  onRefusal(refused: (limit: Limit, label: string) => void): void {
    this.refused = refused;
  }

  /** Whether a limit is configured. */
  has(limit: Limit): boolean {
    return this.limiters.has(limit);
  }

  /**
   * Takes one request from `who`'s allowance under `limit`; resolves with the headers to send (once
   * a tenth of the allowance or less is left: setting them on every answer would cost more than the
   * limit itself), or rejects with a 429 carrying them.
   */
  async take(limit: Limit, who: string, label = who): Promise<Record<string, string> | undefined> {
    const entry = this.limiters.get(limit);
    if (entry === undefined) return undefined;
    try {
      const res = await entry.limiter.consume(who);
      return res.remainingPoints * 10 <= entry.rate.points ? headers(entry.policy, limit, res) : undefined;
    } catch (caught) {
      if (!(caught instanceof RateLimiterRes)) throw caught;
      this.refused(limit, label);
      const h = headers(entry.policy, limit, caught);
      const seconds = Math.max(1, Math.ceil(caught.msBeforeNext / 1000));
      const what = limit === 'campaigns' ? 'campaigns created' : limit === 'address' ? 'requests without a key from this address' : `${limit} requests`;
      throw new AppError(429, `rate limit reached: at most ${entry.rate.points} ${what} per ${entry.rate.seconds} s; retry after ${seconds} s`, { ...h, 'Retry-After': String(seconds) });
    }
  }
}

function headers(policy: string, name: string, res: RateLimiterRes): Record<string, string> {
  const reset = Math.max(0, Math.ceil(res.msBeforeNext / 1000));
  return { 'RateLimit-Policy': policy, RateLimit: `"${name}";r=${Math.max(0, res.remainingPoints)};t=${reset}` };
}
