import type { Logger } from '../../log.js';
import { withDeadline } from '../deadline.js';
import type { EpochEvent } from '../redis-epoch.js';
import { RedisStore, type RedisStoreOptions } from './store.js';

/**
 * Opens the store with its events logged: unavailability once per outage, the epoch's findings, and
 * at start a warning for masters that keep no AOF.
 */
export async function openRedisStore(options: Omit<RedisStoreOptions, 'onClientError' | 'onEpoch'>, logger: Logger): Promise<RedisStore> {
  const { endpoint } = options;
  const where = 'url' in endpoint ? redactUrl(endpoint.url) : endpoint.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  const store = await RedisStore.open({
    ...options,
    onClientError: (err) => logger.debug({ err }, 'Redis client error'),
    onEpoch: (event) => logEpoch(logger, where, event),
  });
  if (store.epochState !== 'unknown') await warnWithoutPersistence(store.masters(), logger);
  // A lost store has its own error line (logEpoch); these are about Redis answering at all.
  store.onAvailability((available) => {
    if (available) logger.info({ redis: where }, 'Redis is available again');
    else if (store.epochState !== 'lost') logger.error({ redis: where }, 'Redis is unavailable: answering 503 until it answers again');
  });
  if (store.epochState === 'unknown') logger.error({ redis: where }, 'Redis is unavailable at start: answering 503 until it answers');
  return store;
}

function logEpoch(logger: Logger, redis: string, event: EpochEvent): void {
  switch (event.type) {
    case 'initialised':
      logger.info({ redis, epoch: event.epoch }, 'Redis store set up for first use (epoch written)');
      return;
    case 'lost':
      logger.error(
        { redis, reason: event.reason },
        `the Redis store lost its data: ${event.reason}. Counting is paused (503, /readyz unready) so that nothing is counted into an empty store and no existing campaign is answered 404. ` +
          'Restore Redis from a backup and restart it, or accept the loss with POST /api/v1/admin/redis/accept-reset (or REDIS_ACCEPT_RESET=on)',
      );
      return;
    case 'accepted':
      logger.warn(
        { redis, epoch: event.epoch, repaired_slots: event.repairedSlots },
        event.automatically ? 'the Redis store data loss was accepted at once (REDIS_ACCEPT_RESET=on): counting goes on into what is left' : 'the Redis store data loss was accepted: counting resumes into what is left',
      );
      return;
    case 'restored':
      logger.warn({ redis, epoch: event.epoch }, 'the Redis store data loss was accepted by another node: counting resumes');
      return;
  }
}

/**
 * Warns, once per master at start, when Redis keeps no AOF: a restart then loses every count since
 * the last RDB snapshot, or everything without one. A Redis that refuses CONFIG (managed services,
 * ACLs, a renamed command) is only noted at debug level.
 */
export async function warnWithoutPersistence(masters: readonly { readonly address: string; config(...args: string[]): Promise<unknown> }[], logger: Logger): Promise<void> {
  await Promise.all(
    masters.map(async (node) => {
      try {
        const setting = async (name: string): Promise<string> => {
          const reply = (await withDeadline(node.config('GET', name), 2000)) as string[];
          return reply[1] ?? '';
        };
        const [appendonly, save] = [await setting('appendonly'), await setting('save')];
        if (appendonly === 'yes') return;
        logger.warn(
          { redis: node.address, appendonly, save },
          save.trim() === ''
            ? 'Redis runs without persistence (appendonly no, save ""): a restart loses every campaign and count'
            : `Redis keeps no AOF (appendonly no): a restart loses every count since the last RDB snapshot (save "${save}")`,
        );
      } catch (err) {
        logger.debug({ redis: node.address, err }, 'could not read the Redis persistence settings (CONFIG GET refused); not checked');
      }
    }),
  );
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}
