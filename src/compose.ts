import { IDEMPOTENCY_TTL_MS } from '../actors/campaign/campaign.js';
import { systemClock, type Clock } from '../actors/counting/clock.js';
import { remoteCampaignLogic, type RemoteCampaignLogic } from '../actors/remote-campaign/remote-campaign.js';
import { startCounterSystem, type CounterSystem, type CounterSystemOptions } from '../actors/system.js';
import { analyticsConfig } from './use-cases/analytics.js';
import { FileKeyStore, RedisKeyStore } from './auth/key-store.js';
import { KeyRing, MemoryKeyStore } from './auth/keys.js';
import { createHttpApp, type AppDeps, type HttpApp } from './app.js';
import type { Config } from './config.js';
import { Counter, type CampaignDirectory } from './counter.js';
import type { Durability } from './durability.js';
import { BodyBudget } from './http/body-budget.js';
import type { StateBudget } from '../actors/counting/budget.js';
import { botFilter } from './http/bots.js';
import { RateLimits } from './http/rate-limit.js';
import type { Logger } from './log.js';
import { openRedisStore } from './storage/redis/open.js';
import type { RedisStore, RedisStoreOptions } from './storage/redis/store.js';

/**
 * The composition root: Config → store, counting system, API keys and rate limits, HTTP app. `main.ts` starts the service
 * from these, and the bench and the specs' helpers build the same wiring from them.
 */

/** Per campaign per node: items in one script call, and items waiting behind it before 503s. */
const MAX_ITEMS_PER_CALL = 1000;
const MIN_QUEUED_ITEMS = 20_000;

/** STORE=redis: the store's settings, as configured. */
export function redisStoreOptions(config: Config): Omit<RedisStoreOptions, 'onClientError' | 'onEpoch'> {
  return {
    endpoint: config.redisUrl !== '' ? { url: config.redisUrl } : { nodes: config.redisClusterNodes },
    ttlMs: config.dedupTtlMs,
    idempotencyTtlMs: IDEMPOTENCY_TTL_MS,
    clickTtlMs: config.clickDedupTtlMs,
    maxAds: config.analyticsMaxAds,
    retention: { minuteRetentionMs: config.seriesMinuteRetentionMs, hourRetentionMs: config.seriesHourRetentionMs, dayRetentionMs: config.seriesDayRetentionMs },
    commandTimeoutMs: config.redisTimeoutMs,
    retryIntervalMs: config.redisRetryIntervalMs,
    checkIntervalMs: config.redisCheckIntervalMs,
    acceptReset: config.redisAcceptReset,
  };
}

/**
 * STORE=redis: connects to Redis as configured and returns the store (the campaign directory too)
 * and the campaign actor logic that counts through it.
 */
export async function openRedis(config: Config, logger: Logger): Promise<{ store: RedisStore; logic: RemoteCampaignLogic }> {
  const store = await openRedisStore(redisStoreOptions(config), logger);
  const logic = remoteCampaignLogic({ store, maxItemsPerCall: MAX_ITEMS_PER_CALL, maxQueuedItems: Math.max(MIN_QUEUED_ITEMS, 2 * config.batchLimit) });
  return { store, logic };
}

/** What the counting system needs beyond Config: where it journals or counts, and whom it tells. */
export interface SystemWiring {
  /** The clock (the system clock when absent). */
  readonly clock?: Clock;
  /** Durable modes: the journal the campaign actors write their facts to, and the registry client waits on. */
  readonly journal?: NonNullable<CounterSystemOptions['journal']> & Durability;
  /** STORE=redis: the campaign actors' logic, counting in the store. */
  readonly remote?: RemoteCampaignLogic;
  /** STORE=redis: where campaign records live. */
  readonly campaigns?: CampaignDirectory;
  readonly onSupervision?: CounterSystemOptions['onSupervision'];
  readonly onDeadLetter?: CounterSystemOptions['onDeadLetter'];
  readonly onFatal?: CounterSystemOptions['onFatal'];
  /** How campaign ids are made (random UUIDs when absent). */
  readonly newId?: () => string;
  /** ASK_TIMEOUT in place of the configured one. */
  readonly askTimeoutMs?: number;
  /** The bound on state (memory mode); none when absent. */
  readonly budget?: StateBudget;
}

export interface CountingSystem {
  readonly system: CounterSystem;
  readonly counter: Counter;
}

/**
 * Config → the actor system and the use cases over it: the one place the service, the bench and the
 * specs' helpers turn settings into a running counter.
 */
export function startCounting(config: Config, wiring: SystemWiring = {}): CountingSystem {
  const analytics = analyticsConfig(config);
  const system = startCounterSystem({
    clock: wiring.clock ?? systemClock,
    ttlMs: config.dedupTtlMs,
    tickMs: config.sweepIntervalMs,
    sweepBudget: config.sweepBudget,
    supervision: { maxRestarts: config.maxRestarts, windowMs: config.restartWindowMs },
    journal: wiring.journal,
    child: wiring.remote,
    analytics,
    onSupervision: wiring.onSupervision,
    onDeadLetter: wiring.onDeadLetter,
    onFatal: wiring.onFatal,
    budget: wiring.budget,
  });
  const counter = new Counter({
    registry: system.registry,
    clock: system.clock,
    askTimeoutMs: wiring.askTimeoutMs ?? config.askTimeoutMs,
    durability: wiring.journal,
    campaigns: wiring.campaigns,
    analytics,
    newId: wiring.newId,
    budget: wiring.budget,
  });
  return { system, counter };
}

/**
 * Config → the API key ring, opened: in Redis with STORE=redis (so that every node knows every key,
 * and revocations reach them all), in DATA_DIR/keys.json in durable memory mode, else in memory.
 */
export async function openKeys(config: Config, where: { readonly redis?: RedisStore; readonly durable: boolean }, logger: Logger): Promise<KeyRing> {
  const store = where.redis
    ? new RedisKeyStore(where.redis.client, (err) => logger.warn({ err }, 'could not look for API key changes in Redis; retrying'))
    : where.durable
      ? new FileKeyStore(config.dataDir)
      : new MemoryKeyStore();
  return new KeyRing(store, config.adminKey).open();
}

/** Config → the rate limits (RATE_LIMIT_*), kept in Redis with STORE=redis so that nodes share each allowance. */
export function rateLimits(config: Config, redis?: RedisStore): RateLimits {
  return new RateLimits(
    {
      read: config.rateLimitRead ?? undefined,
      write: config.rateLimitWrite ?? undefined,
      admin: config.rateLimitAdmin ?? undefined,
      address: config.rateLimitAddress ?? undefined,
      campaigns: config.rateLimitCampaigns ?? undefined,
    },
    redis?.client,
  );
}

/** What the HTTP app needs beyond Config and the counter; what Config gives may be replaced too. */
export type AppWiring = Pick<AppDeps, 'logger'> & Partial<Omit<AppDeps, 'counter'>>;

/** Config + counter → the Koa app and its fast lane (never listening). */
export function buildApp(config: Config, counter: Counter, wiring: AppWiring): HttpApp {
  return createHttpApp({
    counter,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyBudget: new BodyBudget(config.bodyBufferBytes),
    batchLimit: config.batchLimit,
    bots: botFilter(config.botFilter),
    authOff: config.authOff,
    trustProxy: config.trustProxy,
    beaconSecret: config.beaconSecret,
    ...wiring,
  });
}
