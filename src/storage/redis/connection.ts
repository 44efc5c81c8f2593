import { Cluster, Redis } from 'ioredis';
import type { Readiness } from '../../health.js';
import { CircuitBreaker, StoreUnavailableError } from '../breaker.js';
import { withDeadline } from '../deadline.js';
import { isEpochMissing, StoreEpoch, StoreResetError, type AcceptReport, type EpochEvent, type EpochState } from '../redis-epoch.js';
import { campaignKey, tagOf } from './keys.js';
import { defineScripts, type Scripts } from './scripts.js';

/** One server (`redis://host:port/db`) or the seed nodes of a Redis Cluster. */
export type RedisEndpoint = { readonly url: string } | { readonly nodes: readonly { readonly host: string; readonly port: number }[] };

/** How to reach Redis and how to behave when it is slow, down, or has lost its data. */
export interface RedisConnectionOptions {
  readonly endpoint: RedisEndpoint;
  /** How long one command may take before it counts as a failure. */
  readonly commandTimeoutMs: number;
  /** How long the circuit stays open after failures before Redis is probed again; also `Retry-After`. */
  readonly retryIntervalMs: number;
  /** Connection errors the client reports (already reflected in failed calls); for logging. */
  readonly onClientError?: (err: Error) => void;
  /** How often the store's epoch is sampled to notice a Redis that lost its data (default 5 s); also the `Retry-After` while it is lost. */
  readonly checkIntervalMs?: number;
  /** REDIS_ACCEPT_RESET=on: a store found to have lost its data is accepted as it is at once (still reported). */
  readonly acceptReset?: boolean;
  /** Told when the store is set up, found to have lost its data, and when that is accepted (see redis-epoch.ts). */
  readonly onEpoch?: (event: EpochEvent) => void;
}

/** Consecutive failed calls that open the circuit. */
const BREAKER_THRESHOLD = 3;
const UNAVAILABLE_REASON = 'Redis is unavailable';
const LOST_REASON = 'the Redis store lost its data';

type Client = Redis | Cluster;

/**
 * One connection to Redis (or a Redis Cluster) that the store and the campaign directory share:
 * every call goes through a circuit breaker and a deadline, so a slow or absent Redis costs a
 * request at most one command timeout, and then nothing until Redis answers probes again; and
 * through the store's epoch, so that nothing is counted into a Redis that lost its data.
 */
export class RedisConnection {
  readonly client: Client;
  /** The scripts (scripts/*.lua), as commands of `client`. */
  readonly scripts: Scripts;
  private readonly breaker: CircuitBreaker;
  private readonly deadlineMs: number;
  private readonly watchers: ((available: boolean) => void)[] = [];
  private readonly changeWatchers: (() => void)[] = [];
  private readonly epoch: StoreEpoch;
  private readonly checkIntervalMs: number;
  private checker: NodeJS.Timeout | undefined;
  private wasAvailable = false;

  protected constructor(private readonly connection: RedisConnectionOptions) {
    const options = connection;
    const { endpoint, commandTimeoutMs } = options;
    // No `commandTimeout` here: ioredis would reject from a plain timer, which on a busy event loop
    // fires before the reply already waiting in the socket is read. `withDeadline` is the one timer.
    const node = {
      connectTimeout: Math.max(1000, commandTimeoutMs),
      // Fail fast rather than hold commands for a reconnect: a resent script could run twice.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    };
    const reconnect = (times: number): number => Math.min(50 * times, 1000);
    this.client =
      'url' in endpoint
        ? new Redis(endpoint.url, { ...node, enableOfflineQueue: false, retryStrategy: reconnect, enableAutoPipelining: true })
        : new Cluster(
            endpoint.nodes.map((n) => ({ host: n.host, port: n.port })),
            { enableOfflineQueue: false, enableAutoPipelining: true, clusterRetryStrategy: reconnect, slotsRefreshTimeout: Math.max(1000, commandTimeoutMs), redisOptions: node },
          );
    this.client.on('error', (err: Error) => options.onClientError?.(err));
    this.scripts = defineScripts(this.client);
    // Room for a cluster redirection (two round trips) within one call.
    this.deadlineMs = 2 * commandTimeoutMs + 50;
    this.breaker = new CircuitBreaker({
      store: 'Redis store',
      threshold: BREAKER_THRESHOLD,
      openMs: options.retryIntervalMs,
      probe: () => this.ping(),
      onChange: (open) => {
        // Back after an outage: Redis may have restarted meanwhile, empty.
        if (!open) this.recheck(() => this.epoch.check());
        this.changed();
      },
    });
    this.checkIntervalMs = options.checkIntervalMs ?? 5000;
    this.epoch = new StoreEpoch(this.client, {
      deadlineMs: Math.max(5000, this.deadlineMs),
      acceptReset: options.acceptReset === true,
      onEvent: (event) => {
        options.onEpoch?.(event);
        this.changed();
      },
    });
    // Every (re)connection: a Redis that restarted between two calls may have come back empty.
    this.client.on('ready', () => this.recheck(() => this.epoch.check()));
  }


  /**
   * Connects. When Redis cannot be reached within `waitMs` the connection still opens, unavailable
   * (calls answer 503), and becomes available by itself once Redis answers.
   */
  protected async connect(waitMs: number): Promise<void> {
    this.checker = setInterval(() => this.recheck(() => this.epoch.sample()), this.checkIntervalMs);
    this.checker.unref();
    const until = performance.now() + waitMs;
    for (;;) {
      try {
        await this.ping();
        await this.epoch.check();
        this.wasAvailable = this.available;
        return;
      } catch {
        if (performance.now() >= until) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    this.breaker.open();
  }

  /** Whether calls are served: Redis answers and still holds its data (or its loss was accepted). */
  get available(): boolean {
    return !this.breaker.isOpen && this.epoch.state === 'ok';
  }

  /** What this node knows of the store's epoch (see redis-epoch.ts). */
  get epochState(): EpochState {
    return this.epoch.state;
  }

  /** Why campaign calls are refused, when it is not a passing outage: the store lost its data. */
  get refusal(): string | undefined {
    return this.epoch.state === 'lost' ? `${LOST_REASON}: ${this.epoch.reason}; counting is paused until an operator accepts the reset` : undefined;
  }

  /** Calls `watch` when Redis becomes unavailable (`false`) and available again (`true`). */
  onAvailability(watch: (available: boolean) => void): void {
    this.watchers.push(watch);
  }

  /**
   * Accepts that the store lost its data (POST /api/v1/admin/redis/accept-reset): counting resumes
   * into the store as it is, on this node at once and on others at their next check.
   */
  acceptReset(): Promise<AcceptReport> {
    return this.epoch.accept();
  }

  /** Each master (the one server on a single Redis), for start-up checks of its settings. */
  masters(): { readonly address: string; config(...args: string[]): Promise<unknown> }[] {
    const client = this.client;
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    return nodes.map((n) => ({ address: `${n.options.host ?? '?'}:${n.options.port ?? '?'}`, config: (...args: string[]) => (n.config as (...a: string[]) => Promise<unknown>)(...args) }));
  }

  /** Checks the store's epoch now, as a reconnect does. */
  checkEpoch(): Promise<void> {
    return this.epoch.check();
  }

  /** Keeps `/readyz` unready while Redis is unavailable or has lost its data, from now on. */
  reportTo(readiness: Readiness): void {
    const apply = (): void => readiness.set('redis', this.unreadyReason);
    this.changeWatchers.push(apply);
    apply();
  }

  private get unreadyReason(): string | undefined {
    if (this.epoch.state === 'lost') return `${LOST_REASON}: ${this.epoch.reason}; see POST /api/v1/admin/redis/accept-reset`;
    return this.available ? undefined : UNAVAILABLE_REASON;
  }

  /** Runs a check of the epoch in the background; an unreachable Redis is the breaker's business. */
  private recheck(check: () => Promise<void>): void {
    check().then(
      () => this.changed(),
      () => undefined,
    );
  }

  private changed(): void {
    for (const watch of this.changeWatchers) watch();
    const available = this.available;
    if (available === this.wasAvailable) return;
    this.wasAvailable = available;
    for (const watch of this.watchers) watch(available);
  }

  /** Stops probing and closes the connections. */
  async close(): Promise<void> {
    clearInterval(this.checker);
    this.breaker.stop();
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /** `ic:{<campaign tag>}:<what>` (see `tagOf`). */
  key(campaignId: string, what: string): string {
    return campaignKey(campaignId, what);
  }

  /** The epoch key in the slot of the campaign's keys, which its scripts check first. */
  epochKey(campaignId: string): string {
    return this.epoch.keyFor(tagOf(campaignId));
  }

  /** Answers only when every master answers (a cluster with one shard down is not available). */
  private async ping(): Promise<void> {
    const client = this.client;
    if (client.status !== 'ready') throw new Error(`Redis connection is ${client.status}`);
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    if (nodes.length === 0) throw new Error('no Redis Cluster masters known yet');
    await withDeadline(Promise.all(nodes.map((n) => n.ping())), this.deadlineMs);
  }

  /**
   * One Redis call: refused at once while the store is lost (or not yet checked), else through the
   * breaker and a deadline. A script that finds its slot's epoch key missing is an answer (the store
   * lost its data), not a failure of Redis, so it never counts towards opening the breaker.
   */
  async call<T>(command: () => Promise<T>): Promise<T> {
    this.admit();
    const result = await this.breaker.run(async (): Promise<{ value: T } | { lost: true }> => {
      try {
        return { value: await withDeadline(command(), this.deadlineMs) };
      } catch (err) {
        if (isEpochMissing(err)) return { lost: true };
        throw err;
      }
    });
    if ('lost' in result) {
      this.epoch.scriptFoundLoss();
      this.admit();
      throw new StoreResetError('the Redis store lost its data; retry later', this.checkIntervalMs);
    }
    return result.value;
  }

  private admit(): void {
    const refusal = this.refusal;
    if (refusal !== undefined) throw new StoreResetError(refusal, this.checkIntervalMs);
    if (this.epoch.state === 'unknown') throw new StoreUnavailableError('Redis store', this.connection.retryIntervalMs);
  }
}
