/**
 * The Redis store (STORE=redis), whose parts live in src/storage/redis/: the connection (breaker,
 * deadline, epoch), the counting store, the campaign directory, the Lua scripts, and opening it.
 */
export { RedisConnection, type RedisConnectionOptions, type RedisEndpoint } from './redis/connection.js';
export { RedisDirectory, type CampaignDirectory } from './redis/directory.js';
export { openRedisStore, warnWithoutPersistence } from './redis/open.js';
export { RedisStore, type RedisStoreOptions } from './redis/store.js';
export { StoreUnavailableError } from './breaker.js';
