import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * Throw-away Redis servers for tests: each on a free loopback port with its own temp dir, no
 * persistence, stopped by PID. A 3-master cluster is three of them joined by `redis-cli --cluster
 * create` (about 2 s).
 */

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  /** SIGSTOP: the server keeps its connections but answers nothing (a stalled Redis). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  stop(): Promise<void>;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  stop(): Promise<void>;
}

/** Whether `redis-server` and `redis-cli` are on the PATH. */
export function redisInstalled(): boolean {
  return ['redis-server', 'redis-cli'].every((cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0);
}

/**
 * For a `before` hook of a suite that needs Redis: in CI a missing Redis fails the suite (it must
 * never pass by skipping); elsewhere the suite is skipped with a note saying how to install it.
 */
export function requireRedis(ctx: Mocha.Context): void {
  if (redisInstalled()) return;
  if (process.env.CI) throw new Error('redis-server is not installed; CI must install it (apt-get install redis-server, see .ci/run)');
  const title = ctx.test?.parent?.title;
  process.stderr.write(`  skipping ${title ? `"${title}"` : 'Redis specs'}: redis-server is not installed (apt-get install redis-server)\n`);
  ctx.skip();
}

const live = new Set<ChildProcess>();
let reaping = false;

/** However mocha ends (--exit included), no server outlives it. */
function reapOnExit(): void {
  if (reaping) return;
  reaping = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Starts one server; with `cluster`, in cluster mode (not yet part of a cluster); with `port`, on
 * that port (e.g. to bring back a server a test stopped).
 */
export async function startRedis(options: { cluster?: boolean; port?: number } = {}): Promise<RedisServer> {
  for (let attempt = 0; ; attempt++) {
    const port = options.port ?? (await freePort(options.cluster === true));
    try {
      return await launch(port, options.cluster === true);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
}

/** Starts `masters` cluster-mode servers and joins them into one cluster with no replicas. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startRedis({ cluster: true }));
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr || created.stdout}`);
    await waitFor(() => nodes.every((n) => cli(n.port, 'cluster', 'info').includes('cluster_state:ok')), 20_000, 'the cluster to be ok');
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function launch(port: number, cluster: boolean): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ic-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', ''];
  if (cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
  reapOnExit();
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', () => {
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on port ${port} did not start: ${output}`)), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code}): ${output}`));
    });
  });
  child.stdout?.resume();
  const pid = child.pid as number;
  return {
    host: '127.0.0.1',
    port,
    pid,
    url: `redis://127.0.0.1:${port}`,
    pause: () => process.kill(pid, 'SIGSTOP'),
    resume: () => process.kill(pid, 'SIGCONT'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGKILL'); // works on a stopped process too
      await exited;
    },
  };
}

/** A loopback port that is free now (and, for a cluster node, whose bus port +10000 is free too). */
async function freePort(withBus: boolean): Promise<number> {
  for (;;) {
    const port = withBus ? 20_000 + Math.floor(Math.random() * 30_000) : await ephemeral();
    if ((await isFree(port)) && (!withBus || (await isFree(port + 10_000)))) return port;
  }
}

function ephemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function cli(port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
}

async function waitFor(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A Redis server started for the suite (the suite skips without one, or fails under CI), and
 * `connect()` for ioredis clients on it; all are closed after the suite.
 */
export function useRedisServer(): { connect(): Redis } {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  before(async function () {
    requireRedis(this);
    server = await startRedis();
  });
  after(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await server?.stop();
  });
  return {
    connect() {
      const c = new Redis((server as RedisServer).url);
      clients.push(c);
      return c;
    },
  };
}
