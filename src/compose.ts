import { IDEMPOTENCY_TTL_MS } from '../actors/campaign.js';
import { remoteCampaignLogic, type RemoteCampaignLogic } from '../actors/remote-campaign.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { openRedisStore } from './storage/redis/open.js';
import type { RedisStore, RedisStoreOptions } from './storage/redis/store.js';

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
