import { getHeapStatistics } from 'node:v8';

/**
 * The service's configuration: one typed, validated, frozen object read once from the environment.
 * `CONFIG_KEYS` is the single source for parsing, `--help` and the README's table.
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dedupTtlMs: number;
  readonly bodyLimitBytes: number;
  readonly batchLimit: number;
  /** Bytes of request bodies buffered at once across all requests. */
  readonly bodyBufferBytes: number;
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly maxConnections: number;
  readonly logLevel: LogLevel;
  readonly askTimeoutMs: number;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly sweepIntervalMs: number;
  readonly sweepBudget: number;
  readonly dataDir: string;
  readonly durability: DurabilityMode;
  readonly snapshotIntervalMs: number;
  readonly journalBacklogBytes: number;
  readonly durabilityTimeoutMs: number;
  readonly snapshotJournalBytes: number;
  readonly snapshotKeep: number;
  readonly recovery: RecoveryMode;
  readonly inspector: boolean;
  /** ADMIN_KEY, the root API key; empty when unset (loopback is then trusted as admin). */
  readonly adminKey: string;
  /** AUTH=off: no key checks at all. */
  readonly authOff: boolean;
  readonly trustProxy: boolean;
  /** BEACON_SECRET; empty: a random one per process. */
  readonly beaconSecret: string;
  /** Rate limits (null: off). */
  readonly rateLimitRead: Rate | null;
  readonly rateLimitWrite: Rate | null;
  readonly rateLimitAdmin: Rate | null;
  readonly rateLimitAddress: Rate | null;
  readonly rateLimitCampaigns: Rate | null;
  readonly store: StoreKind;
  /** Empty when unset. */
  readonly redisUrl: string;
  /** Empty when unset. */
  readonly redisClusterNodes: readonly RedisNode[];
  readonly redisTimeoutMs: number;
  readonly redisRetryIntervalMs: number;
  readonly redisCheckIntervalMs: number;
  readonly redisAcceptReset: boolean;
  /** Ads, clicks and analytics: BOT_FILTER, CLICK_*, ANALYTICS_*, SERIES_*. */
  readonly botFilter: boolean;
  /** 0: click dedupe off. */
  readonly clickDedupTtlMs: number;
  readonly clickMaxSkewMs: number;
  readonly analyticsMaxAds: number;
  readonly seriesMinuteRetentionMs: number;
  readonly seriesHourRetentionMs: number;
  /** Infinity: forever. */
  readonly seriesDayRetentionMs: number;
  /** Bytes of counting and analytics state beyond which growth is refused. */
  readonly memoryBudgetBytes: number;
  readonly maxCampaigns: number;
}

import { parseRate, type Rate } from './http/rate-limit.js';

/** Where counting state lives: in this process, or in Redis shared by every node. */
export type StoreKind = 'memory' | 'redis';
const STORE_KINDS: readonly StoreKind[] = ['memory', 'redis'];

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export type DurabilityMode = 'fsync' | 'interval' | 'off';
const DURABILITY_MODES: readonly DurabilityMode[] = ['fsync', 'interval', 'off'];

export type RecoveryMode = 'strict' | 'lenient';
const RECOVERY_MODES: readonly RecoveryMode[] = ['strict', 'lenient'];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The longest DEDUP_TTL: dedupe stamps are 32-bit milliseconds relative to a rolling epoch. */
export const MAX_DEDUP_TTL_MS = 24 * 24 * 3_600_000;

export class ConfigError extends Error {
  /** `value` is shown in the message unless it is a secret (a token, a URL that may hold a password). */
  constructor(variable: string, value: string, expected: string, secret = false) {
    super(`invalid ${variable}${secret ? ' (value not shown: it may be a secret)' : `=${JSON.stringify(value)}`}: expected ${expected}`);
    this.name = 'ConfigError';
  }
}

interface Key<K extends keyof Config> {
  readonly env: string;
  readonly field: K;
  readonly fallback: string;
  readonly doc: string;
  readonly parse: (raw: string) => Config[K] | undefined;
  readonly expected: string;
  /** Never echoed in errors or logs. */
  readonly secret?: boolean;
}

function key<K extends keyof Config>(k: Key<K>): Key<K> {
  return k;
}

const BODY_BUFFER_DEFAULT = '64mb';

export const CONFIG_KEYS = [
  key({ env: 'PORT', field: 'port', fallback: '8080', doc: 'TCP port to listen on (0 picks a free one)', expected: 'an integer 0–65535', parse: (r) => int(r, 0, 65_535) }),
  key({ env: 'HOST', field: 'host', fallback: '0.0.0.0', doc: 'address to bind', expected: 'a host name or IP address', parse: (r) => (/^[\w.:-]+$/.test(r) ? r : undefined) }),
  key({ env: 'DEDUP_TTL', field: 'dedupTtlMs', fallback: '1h', doc: 'window after a counted impression in which the same user is a duplicate', expected: 'a duration such as 500ms, 90s, 15m, 2h, 1d (1ms to 24d)', parse: (r) => between(duration(r), 1, MAX_DEDUP_TTL_MS) }),
  key({ env: 'BODY_LIMIT', field: 'bodyLimitBytes', fallback: '1mb', doc: 'largest accepted request body', expected: 'a size such as 512kb or 1mb (1kb to 64mb)', parse: (r) => between(size(r), 1024, 64 * 1024 * 1024) }),
  key({ env: 'BATCH_LIMIT', field: 'batchLimit', fallback: '10000', doc: 'most impressions in one batch request', expected: 'an integer 1–100000', parse: (r) => int(r, 1, 100_000) }),
  key({ env: 'BODY_BUFFER_BUDGET', field: 'bodyBufferBytes', fallback: BODY_BUFFER_DEFAULT, doc: 'bytes of request bodies buffered at once across all requests (an eighth kept for bodies of at most 16 KiB; unset, at least 2 × BODY_LIMIT); a body that does not fit → 503 and the connection is closed', expected: 'a size from 2 × BODY_LIMIT to 4096mb', parse: (r) => between(size(r), 2048, 4096 * 1024 * 1024) }),
  key({ env: 'REQUEST_TIMEOUT', field: 'requestTimeoutMs', fallback: '30s', doc: 'the whole request, headers and body, must arrive within this; later → 408 and the connection is closed', expected: 'a duration from 1s to 10m', parse: (r) => between(duration(r), 1000, 600_000) }),
  key({ env: 'HEADERS_TIMEOUT', field: 'headersTimeoutMs', fallback: '10s', doc: 'the request line and headers must arrive within this; later → 408 and the connection is closed', expected: 'a duration from 1s to REQUEST_TIMEOUT', parse: (r) => between(duration(r), 1000, 600_000) }),
  key({ env: 'MAX_CONNECTIONS', field: 'maxConnections', fallback: '10000', doc: 'connections open at once (idle keep-alive ones included); one more is answered 503 and closed', expected: 'an integer 1–1000000', parse: (r) => int(r, 1, 1_000_000) }),
  key({ env: 'LOG_LEVEL', field: 'logLevel', fallback: 'info', doc: 'pino log level', expected: LOG_LEVELS.join(', '), parse: (r) => LOG_LEVELS.find((l) => l === r) }),
  key({ env: 'ASK_TIMEOUT', field: 'askTimeoutMs', fallback: '5s', doc: 'how long a request waits for an actor reply before answering 503', expected: 'a duration from 10ms to 60s', parse: (r) => between(duration(r), 10, 60_000) }),
  key({ env: 'RESTART_LIMIT', field: 'maxRestarts', fallback: '5', doc: 'restarts of one campaign actor allowed per RESTART_WINDOW before it is suspended', expected: 'an integer 0–1000', parse: (r) => int(r, 0, 1000) }),
  key({ env: 'RESTART_WINDOW', field: 'restartWindowMs', fallback: '1m', doc: 'restart intensity window; a suspended campaign answers 503 for this long', expected: 'a duration from 1s to 1h', parse: (r) => between(duration(r), 1000, 3_600_000) }),
  key({ env: 'SWEEP_INTERVAL', field: 'sweepIntervalMs', fallback: '250ms', doc: 'how often the system ticker reclaims expired dedupe entries', expected: 'a duration from 10ms to 1m', parse: (r) => between(duration(r), 10, 60_000) }),
  key({ env: 'SWEEP_BUDGET', field: 'sweepBudget', fallback: '65536', doc: 'dedupe slots scanned per tick, across all campaigns (bounds the pause)', expected: 'an integer 1024–16777216', parse: (r) => int(r, 1024, 16_777_216) }),
  key({ env: 'DATA_DIR', field: 'dataDir', fallback: './data', doc: 'where the journal and snapshots live', expected: 'a directory path', parse: (r) => (r.length > 0 && !r.includes('\0') ? r : undefined) }),
  key({ env: 'DURABILITY', field: 'durability', fallback: 'fsync', doc: 'fsync: acknowledge after the record is on disk (group commit); interval: acknowledge at once, fsync twice a second, lose at most 1 s; off: memory only', expected: DURABILITY_MODES.join(', '), parse: (r) => DURABILITY_MODES.find((m) => m === r) }),
  key({ env: 'SNAPSHOT_INTERVAL', field: 'snapshotIntervalMs', fallback: '5m', doc: 'how often a snapshot is taken and the journal compacted behind it', expected: 'a duration from 1s to 1d', parse: (r) => between(duration(r), 1000, 86_400_000) }),
  key({ env: 'SNAPSHOT_JOURNAL_BYTES', field: 'snapshotJournalBytes', fallback: '64mb', doc: 'journal bytes written since the last snapshot (and at least that snapshot\'s size) that trigger the next one early, which bounds the restart time', expected: 'a size from 1mb to 16384mb', parse: (r) => between(size(r), 1024 * 1024, 16 * 1024 * 1024 * 1024) }),
  key({ env: 'SNAPSHOT_KEEP', field: 'snapshotKeep', fallback: '2', doc: 'snapshot generations kept, each with the journal since it (a damaged newest one falls back to the previous)', expected: 'an integer 1–10', parse: (r) => int(r, 1, 10) }),
  key({ env: 'RECOVERY', field: 'recovery', fallback: 'strict', doc: 'strict: refuse to start when recovery finds acknowledged records lost (exit code 3, saying what is damaged); lenient: start with what could be read', expected: RECOVERY_MODES.join(', '), parse: (r) => RECOVERY_MODES.find((m) => m === r) }),
  key({ env: 'JOURNAL_BACKLOG', field: 'journalBacklogBytes', fallback: '64mb', doc: 'journal bytes held but not yet on disk beyond which ingestion answers 503', expected: 'a size from 1mb to 1024mb', parse: (r) => between(size(r), 1024 * 1024, 1024 * 1024 * 1024) }),
  key({ env: 'DURABILITY_TIMEOUT', field: 'durabilityTimeoutMs', fallback: '2s', doc: 'fsync mode: how long an answer waits for the disk before 503 + Retry-After (a retry with the same impression_id is safe); new writes are refused while records wait longer', expected: 'a duration from 100ms to 60s', parse: (r) => between(duration(r), 100, 60_000) }),
  key({ env: 'INSPECTOR', field: 'inspector', fallback: 'off', doc: 'on: serve the live actor inspector (/debug/, /debug/actors, /debug/events) to admin keys (and loopback while ADMIN_KEY is unset)', expected: 'on or off', parse: (r) => (r === 'on' ? true : r === 'off' ? false : undefined) }),
  key({ env: 'ADMIN_KEY', field: 'adminKey', fallback: '', doc: 'the root API key (admin scope), sent as Authorization: Bearer <key>; unset: loopback clients act as admin and every other client needs a key created through POST /api/v1/keys', expected: '32–256 characters from A-Z a-z 0-9 . _ ~ + / = -', parse: (r) => (r === '' || /^[\w.~+/=-]{32,256}$/.test(r) ? r : undefined), secret: true }),
  key({ env: 'AUTH', field: 'authOff', fallback: 'on', doc: 'on: API keys and the protected default; off: no checks at all, for a trusted network only (a warning is logged at start)', expected: 'on or off', parse: (r) => (r === 'off' ? true : r === 'on' ? false : undefined) }),
  key({ env: 'TRUST_PROXY', field: 'trustProxy', fallback: 'off', doc: 'on: the last X-Forwarded-For address (the one your proxy appended) is the client, and X-Forwarded-Proto/-Host make beacon URLs; off: the socket peer is the client', expected: 'on or off', parse: (r) => (r === 'on' ? true : r === 'off' ? false : undefined) }),
  key({ env: 'BEACON_SECRET', field: 'beaconSecret', fallback: '', doc: 'HMAC-SHA256 key signing beacon URLs (share it with an ad server that signs its own); unset: a random one per process, so beacons stop working at restart and differ between nodes', expected: '32–256 characters from A-Z a-z 0-9 . _ ~ + / = -', parse: (r) => (r === '' || /^[\w.~+/=-]{32,256}$/.test(r) ? r : undefined), secret: true }),
  key({ env: 'RATE_LIMIT_READ', field: 'rateLimitRead', fallback: '100/s', doc: 'requests per key to read routes (campaigns, stats, analytics, series, ads)', expected: 'off or N/s, N/m, N/h, N/d', parse: parseRate }),
  key({ env: 'RATE_LIMIT_WRITE', field: 'rateLimitWrite', fallback: '10000/s', doc: 'requests per key to write routes (impressions, clicks, beacon URLs); a batch is one request', expected: 'off or N/s, N/m, N/h, N/d', parse: parseRate }),
  key({ env: 'RATE_LIMIT_ADMIN', field: 'rateLimitAdmin', fallback: '100/s', doc: 'requests per key to admin routes (campaigns, ads, keys, metrics, inspector)', expected: 'off or N/s, N/m, N/h, N/d', parse: parseRate }),
  key({ env: 'RATE_LIMIT_ADDRESS', field: 'rateLimitAddress', fallback: '20/s', doc: 'requests without a key (signed beacons fired by browsers) per client address; behind a proxy set TRUST_PROXY=on, or every browser shares the proxy\'s allowance', expected: 'off or N/s, N/m, N/h, N/d', parse: parseRate }),
  key({ env: 'RATE_LIMIT_CAMPAIGNS', field: 'rateLimitCampaigns', fallback: '1000/h', doc: 'campaigns created per key', expected: 'off or N/s, N/m, N/h, N/d', parse: parseRate }),
  key({ env: 'STORE', field: 'store', fallback: 'memory', doc: 'memory: counts live in this process; redis: in Redis (REDIS_URL or REDIS_CLUSTER_NODES), shared by any number of nodes, which then keep no counting state (DATA_DIR and DURABILITY do not apply)', expected: STORE_KINDS.join(', '), parse: (r) => STORE_KINDS.find((k) => k === r) }),
  key({ env: 'REDIS_URL', field: 'redisUrl', fallback: '', doc: 'with STORE=redis: one Redis server, as redis://[user:password@]host:port[/db]', expected: 'a redis:// or rediss:// URL', parse: redisUrl, secret: true }),
  key({ env: 'REDIS_CLUSTER_NODES', field: 'redisClusterNodes', fallback: '', doc: 'with STORE=redis: some nodes of a Redis Cluster, as host:port,host:port (the rest are discovered)', expected: 'comma-separated host:port pairs', parse: redisNodes }),
  key({ env: 'REDIS_TIMEOUT', field: 'redisTimeoutMs', fallback: '500ms', doc: 'how long one Redis command may take; after 3 failures in a row Redis is treated as down and requests answer 503 at once', expected: 'a duration from 10ms to 10s', parse: (r) => between(duration(r), 10, 10_000) }),
  key({ env: 'REDIS_RETRY_INTERVAL', field: 'redisRetryIntervalMs', fallback: '1s', doc: 'while Redis is down: how often it is probed, and the Retry-After of the 503s', expected: 'a duration from 100ms to 1m', parse: (r) => between(duration(r), 100, 60_000) }),
  key({ env: 'REDIS_CHECK_INTERVAL', field: 'redisCheckIntervalMs', fallback: '5s', doc: "how often each node checks that Redis still holds its data (the store's epoch keys; also checked on every reconnect), and the Retry-After of the 503s while it does not", expected: 'a duration from 1s to 10m', parse: (r) => between(duration(r), 1000, 600_000) }),
  key({ env: 'REDIS_ACCEPT_RESET', field: 'redisAcceptReset', fallback: 'off', doc: 'off: when Redis is found to have lost its data, refuse to count (503, unready) until POST /api/v1/admin/redis/accept-reset; on: log the loss and go on counting into what is left', expected: 'on or off', parse: (r) => (r === 'on' ? true : r === 'off' ? false : undefined) }),
  key({ env: 'BOT_FILTER', field: 'botFilter', fallback: 'on', doc: "on: impressions and clicks whose viewer's user agent (the user_agent field, or a browser's User-Agent header) is on isbot's list are not counted and are reported as bot_filtered", expected: 'on or off', parse: (r) => (r === 'on' ? true : r === 'off' ? false : undefined) }),
  key({ env: 'CLICK_DEDUP_TTL', field: 'clickDedupTtlMs', fallback: 'off', doc: 'off, or a window in which repeated clicks of the same user (or IP) on the same ad are dropped as duplicates', expected: 'off or a duration from 1ms to 24d', parse: (r) => (r === 'off' ? 0 : between(duration(r), 1, MAX_DEDUP_TTL_MS)) }),
  key({ env: 'CLICK_MAX_SKEW', field: 'clickMaxSkewMs', fallback: '1h', doc: "how far a click's or impression's timestamp may be from the server's clock (further: 400); later ones count now", expected: 'a duration from 1s to 7d', parse: (r) => between(duration(r), 1000, 7 * 86_400_000) }),
  key({ env: 'ANALYTICS_MAX_ADS', field: 'analyticsMaxAds', fallback: '1000', doc: 'distinct ads with figures of their own per campaign (later ones share the "(other)" row), and most ads registered per campaign', expected: 'an integer 1–10000', parse: (r) => int(r, 1, 10_000) }),
  key({ env: 'SERIES_MINUTE_RETENTION', field: 'seriesMinuteRetentionMs', fallback: '48h', doc: 'how long minute buckets are kept for time series (analytics windows keep at least 24 h)', expected: 'a duration from 1h to 30d', parse: (r) => between(duration(r), 3_600_000, 30 * 86_400_000) }),
  key({ env: 'SERIES_HOUR_RETENTION', field: 'seriesHourRetentionMs', fallback: '90d', doc: 'how long hour (quarter-hour) buckets are kept for time series', expected: 'a duration from 1d to 400d', parse: (r) => between(duration(r), 86_400_000, 400 * 86_400_000) }),
  key({ env: 'SERIES_DAY_RETENTION', field: 'seriesDayRetentionMs', fallback: 'forever', doc: 'how long day buckets are kept for time series', expected: 'forever or a duration of at least 1d', parse: (r) => (r === 'forever' ? Infinity : between(duration(r), 86_400_000, Number.MAX_SAFE_INTEGER)) }),
  key({ env: 'MEMORY_BUDGET', field: 'memoryBudgetBytes', fallback: 'auto', doc: 'bytes of counting and analytics state (dedupe tables, windows, idempotency keys, analytics) beyond which new campaigns, users and ads are refused (503) while duplicates and reads go on; auto: half the V8 heap limit', expected: 'auto, or a size from 16mb to 1024gb', parse: (r) => (r === 'auto' ? autoMemoryBudget() : between(size(r), 16 * 1024 * 1024, 1024 * 1024 * 1024 * 1024)) }),
  key({ env: 'MAX_CAMPAIGNS', field: 'maxCampaigns', fallback: '1000000', doc: 'most campaigns the service holds (memory mode); creating one more answers 507', expected: 'an integer 1–100000000', parse: (r) => int(r, 1, 100_000_000) }),
] as const;

/**
 * MEMORY_BUDGET=auto: half the V8 heap limit. State is mostly on the heap, and the rest of the heap
 * must hold requests in flight, snapshots being written and garbage not yet collected.
 */
export function autoMemoryBudget(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 2);
}

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const config: Record<string, unknown> = {};
  const texts: Record<string, string> = {};
  for (const k of CONFIG_KEYS) {
    const raw = env[k.env];
    const text = raw === undefined || raw.trim() === '' ? k.fallback : raw.trim();
    texts[k.env] = text;
    const value = k.parse(text);
    if (value === undefined) throw new ConfigError(k.env, text, k.expected, 'secret' in k && k.secret === true);
    config[k.field] = value;
  }
  // Unset, the budget grows with a large BODY_LIMIT rather than refusing to start.
  if ((env.BODY_BUFFER_BUDGET ?? '').trim() === '') config.bodyBufferBytes = Math.max(config.bodyBufferBytes as number, 2 * (config.bodyLimitBytes as number));
  if ((config.bodyBufferBytes as number) < 2 * (config.bodyLimitBytes as number)) {
    throw new ConfigError('BODY_BUFFER_BUDGET', texts.BODY_BUFFER_BUDGET, `at least twice BODY_LIMIT (${2 * (config.bodyLimitBytes as number)} bytes), so that a body of BODY_LIMIT always fits`);
  }
  if ((config.headersTimeoutMs as number) > (config.requestTimeoutMs as number)) {
    throw new ConfigError('HEADERS_TIMEOUT', texts.HEADERS_TIMEOUT, `at most REQUEST_TIMEOUT (${config.requestTimeoutMs as number} ms): the headers are part of the request`);
  }
  if ((env.INSPECTOR_TOKEN ?? '').trim() !== '') {
    // Silently ignoring it would leave an operator believing the inspector still takes that token.
    throw new ConfigError('INSPECTOR_TOKEN', '', 'it to be unset: the inspector now takes an admin API key (set ADMIN_KEY, or create an admin key)', true);
  }
  if (config.store === 'redis') {
    const nodes = config.redisClusterNodes as readonly RedisNode[];
    if (config.redisUrl === '' && nodes.length === 0) {
      throw new ConfigError('REDIS_URL', '', 'a redis:// URL (or REDIS_CLUSTER_NODES for a cluster), because STORE=redis');
    }
    if (config.redisUrl !== '' && nodes.length > 0) {
      throw new ConfigError('REDIS_CLUSTER_NODES', String(env.REDIS_CLUSTER_NODES), 'to be empty when REDIS_URL is set (one server or a cluster, not both)');
    }
  }
  return Object.freeze(config) as unknown as Config;
}

function redisUrl(raw: string): string | undefined {
  if (raw === '') return raw;
  if (!/^rediss?:\/\/[^\s]+$/.test(raw)) return undefined;
  try {
    return new URL(raw).hostname === '' ? undefined : raw;
  } catch {
    return undefined;
  }
}

function redisNodes(raw: string): readonly RedisNode[] | undefined {
  if (raw === '') return Object.freeze([]);
  const nodes: RedisNode[] = [];
  for (const part of raw.split(',')) {
    const m = /^([\w.-]+|\[[\da-fA-F:]+\]):([1-9]\d{0,4})$/.exec(part.trim());
    const port = m ? Number(m[2]) : 0;
    if (m === null || port < 1 || port > 65_535) return undefined;
    nodes.push(Object.freeze({ host: m[1].replace(/^\[|\]$/g, ''), port }));
  }
  return Object.freeze(nodes);
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(host);
}

/** The `--help` text: usage and every variable with its default. */
export function helpText(): string {
  const width = Math.max(...CONFIG_KEYS.map((k) => k.env.length));
  const lines = CONFIG_KEYS.map((k) => `  ${k.env.padEnd(width)}  ${k.doc}\n  ${' '.repeat(width)}    default: ${k.fallback === '' ? '(none)' : k.fallback}; accepts ${k.expected}`);
  return [
    'impression-counter: counts ad impressions per campaign, dropping repeats of a user within a TTL.',
    '',
    'Usage: npm start            (or: node --import tsx src/main.ts [--help])',
    '',
    'Configuration (environment variables):',
    ...lines,
    '',
  ].join('\n');
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 * 1024 * 1024 };

/** Numbers as people write them: no sign, no leading zeros (`08080` is refused, as a typo would be). */
const NUMBER = '(0|[1-9]\\d{0,8})';
const INT = new RegExp(`^${NUMBER}$`);
const DURATION = new RegExp(`^${NUMBER}(ms|s|m|h|d)$`);
const SIZE = new RegExp(`^${NUMBER}(b|kb|mb|gb)?$`, 'i');

/** `500ms`, `90s`, `15m`, `2h`, `1d` → milliseconds. */
export function duration(raw: string): number | undefined {
  const m = DURATION.exec(raw);
  return m ? Number(m[1]) * DURATION_UNITS[m[2]] : undefined;
}

/** `1024`, `512kb`, `1mb`, `2gb` → bytes. */
export function size(raw: string): number | undefined {
  const m = SIZE.exec(raw);
  return m ? Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()] : undefined;
}

function int(raw: string, min: number, max: number): number | undefined {
  return INT.test(raw) ? between(Number(raw), min, max) : undefined;
}

function between(n: number | undefined, min: number, max: number): number | undefined {
  return n !== undefined && n >= min && n <= max ? n : undefined;
}
