import { Redis } from 'ioredis';
import type { Clock } from '../../actors/counting/clock.js';
import { remoteCampaignLogic } from '../../actors/remote-campaign/remote-campaign.js';
import { Readiness } from '../../src/health.js';
import type { RedisEndpoint } from '../../src/storage/redis/connection.js';
import { RedisStore } from '../../src/storage/redis/store.js';
import { startTestApp, type TestApp, type TestAppOptions } from './app.js';
import { requireRedis, startRedis, startRedisCluster, type RedisServer } from './redis.js';

/**
 * The three backends the conformance suite runs against, each able to start any number of service
 * nodes (apps) that share its state: memory (one node holds everything), one Redis server, and a
 * 3-master Redis Cluster. Servers start once per backend and are flushed between tests.
 */

/** A clock the test moves by hand: the one source of time for every node of a test. */
export class ManualClock implements Clock {
  constructor(private t = Date.UTC(2026, 0, 15, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface NodeApp extends TestApp {
  /** The node's Redis store (absent in memory mode). */
  readonly store: RedisStore | undefined;
  readonly readiness: Readiness;
}

export interface NodeOptions extends Omit<TestAppOptions, 'remote' | 'campaigns' | 'deps'> {
  readonly clock: Clock;
  readonly redisTimeoutMs?: number;
  readonly redisRetryIntervalMs?: number;
}

export interface Backend {
  readonly name: string;
  /** Whether nodes share state (false for memory, whose "nodes" are independent processes). */
  readonly shared: boolean;
  /** The Redis processes behind it (empty for memory). */
  readonly servers: readonly RedisServer[];
  /** For a `before` hook: starts the servers (in CI a missing redis-server fails, elsewhere skips). */
  setUp(ctx: Mocha.Context): Promise<void>;
  /** Starts one service node against the backend. */
  startNode(options: NodeOptions): Promise<NodeApp>;
  /** Deletes every key (between tests). */
  reset(): Promise<void>;
  tearDown(): Promise<void>;
}

export function memoryBackend(): Backend {
  return {
    name: 'memory',
    shared: false,
    servers: [],
    async setUp() {},
    async startNode(options) {
      const readiness = new Readiness();
      const app = await startTestApp({ ...options, deps: () => ({ readiness }) });
      return Object.assign(app, { store: undefined, readiness });
    },
    async reset() {},
    async tearDown() {},
  };
}

/**
 * A Redis backend: `start` brings up its servers (stopped by the returned function), `endpoint` is
 * what each node is given to connect to.
 */
function sharedRedis(name: string, start: () => Promise<{ servers: readonly RedisServer[]; endpoint: RedisEndpoint; stop(): Promise<void> }>): Backend {
  let running: Awaited<ReturnType<typeof start>> | undefined;
  const backend: Backend & { servers: RedisServer[] } = {
    name,
    shared: true,
    servers: [],
    async setUp(ctx) {
      requireRedis(ctx);
      running = await start();
      backend.servers.push(...running.servers);
    },
    startNode: (options) => startRedisNode((running as NonNullable<typeof running>).endpoint, options),
    reset: () => flush(backend.servers),
    async tearDown() {
      await running?.stop();
    },
  };
  return backend;
}

export function redisBackend(): Backend {
  return sharedRedis('single Redis', async () => {
    const server = await startRedis();
    return { servers: [server], endpoint: { url: server.url }, stop: () => server.stop() };
  });
}

export function redisClusterBackend(): Backend {
  return sharedRedis('3-master Redis Cluster', async () => {
    const cluster = await startRedisCluster(3);
    // Seeded with one node only: the client discovers the others, as in production.
    return { servers: cluster.nodes, endpoint: { nodes: [{ host: '127.0.0.1', port: cluster.nodes[0].port }] }, stop: () => cluster.stop() };
  });
}

export const ALL_BACKENDS: readonly (() => Backend)[] = [memoryBackend, redisBackend, redisClusterBackend];

/** One service node on Redis, wired as src/main.ts wires it for STORE=redis. */
export async function startRedisNode(endpoint: RedisEndpoint, options: NodeOptions): Promise<NodeApp> {
  const { redisTimeoutMs = 250, redisRetryIntervalMs = 250, ...appOptions } = options;
  const store = await RedisStore.open(
    { endpoint, ttlMs: options.ttlMs ?? 3_600_000, clickTtlMs: options.clickTtlMs, commandTimeoutMs: redisTimeoutMs, retryIntervalMs: redisRetryIntervalMs },
    2000,
  );
  const readiness = new Readiness();
  store.reportTo(readiness);
  const remote = remoteCampaignLogic({ store, maxItemsPerCall: 1000, maxQueuedItems: 20_000 });
  let app: TestApp;
  try {
    app = await startTestApp({ ...appOptions, remote, campaigns: store, deps: () => ({ readiness, redisAdmin: store }) });
  } catch (err) {
    await store.close();
    throw err;
  }
  const close = app.close.bind(app);
  return Object.assign(app, {
    store,
    readiness,
    async close() {
      await close();
      await store.close();
    },
  });
}

async function flush(servers: readonly RedisServer[]): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      const client = new Redis(s.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    }),
  );
}
