import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { bodyOf } from './http.js';

/** Process-level helpers: the real `src/main.ts` in a child process, driven over loopback HTTP. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One parsed pino line of the child's stdout. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly baseUrl: string;
  /** Every JSON log line so far, in order. */
  readonly logs: LogLine[];
  /** Lines of stdout that were not JSON, and all of stderr. */
  readonly noise: string[];
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
  /** The first log line matching `test`, waiting up to `timeoutMs` for it. */
  waitForLog(test: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

export interface StartOptions {
  readonly dataDir: string;
  readonly env?: Record<string, string>;
  /** Extra `--import` modules loaded before main.ts (paths relative to the repository root). */
  readonly preload?: readonly string[];
  readonly readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();

/**
 * Starts `node --import tsx src/main.ts` on an ephemeral loopback port and resolves once it logs
 * "listening on …" (with its port). Rejects if it exits first or is not ready in time.
 */
export function startServer(options: StartOptions): Promise<ServerProcess> {
  const imports = ['tsx', ...(options.preload ?? []).map((p) => './' + p)].flatMap((m) => ['--import', m]);
  const child = spawn(process.execPath, [...imports, 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATA_DIR: options.dataDir,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: LogLine[] = [];
  const noise: string[] = [];
  const listeners = new Set<() => void>();
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
      for (const l of listeners) l();
    });
  });
  eachLine(child.stdout, (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      noise.push(line);
    }
    for (const l of listeners) l();
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => noise.push(text));

  const waitForLog = (test: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const check = (): void => {
        const found = logs.find(test);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`server exited (${child.exitCode ?? child.signalCode}) before the expected log line:\n${describe(logs, noise)}`));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms:\n${describe(logs, noise)}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });

  return waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on ') && typeof l.port === 'number', options.readyTimeoutMs ?? 15_000).then(
    (line) => {
      const port = line.port as number;
      return { child, port, baseUrl: `http://127.0.0.1:${port}`, logs, noise, exited, waitForLog };
    },
  );
}

function describe(logs: readonly LogLine[], noise: readonly string[]): string {
  return [...logs.slice(-20).map((l) => JSON.stringify(l)), ...noise.slice(-20)].join('\n');
}

/** SIGKILLs every child still running (for afterEach) and waits for them to be gone. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Resolves with the exit of `server`, or rejects after `timeoutMs`. */
export async function exitWithin(server: ServerProcess, timeoutMs: number): Promise<Exit & { ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`server did not exit within ${timeoutMs} ms:\n${describe(server.logs, server.noise)}`)), timeoutMs);
  });
  try {
    const exit = await Promise.race([server.exited, timeout]);
    return { ...exit, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh directory under the OS temp dir; `removeTempDirs` deletes every one made so far. */
const tempDirs: string[] = [];
export async function tempDir(prefix = 'impression-counter-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  // A crashed node's last write may still land while the folder is removed (ENOTEMPTY): Node's rm retries that.
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
}

/** Polls `condition` every few milliseconds until it holds, failing after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: any;
}

/** A keep-alive HTTP client for one server: at most `sockets` connections, reused across requests. */
export class Client {
  readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    sockets = 100,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(method: string, path: string, body?: unknown): Promise<JsonResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        new URL(path, this.baseUrl),
        {
          method,
          agent: this.agent,
          headers: payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bodyOf(Buffer.concat(chunks).toString()) });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async createCampaign(name: string): Promise<string> {
    const res = await this.request('POST', '/api/v1/campaigns', { name, start_time: '2000-01-01T00:00:00Z' });
    if (res.status !== 201) throw new Error(`campaign not created: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  }

  async stats(id: string): Promise<{ campaign_id: string; last_hour: number; last_day: number; total: number }> {
    const res = await this.request('GET', `/api/v1/campaigns/${encodeURIComponent(id)}/stats`);
    if (res.status !== 200) throw new Error(`stats failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed with the same traffic. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Calls `onLine` with each whole line of a child's output, as it arrives. */
export function eachLine(stream: Readable | null, onLine: (line: string) => void): void {
  let buffered = '';
  stream?.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      onLine(line);
    }
  });
}
