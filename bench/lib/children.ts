import { get as httpGet } from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CLOCK_TICKS } from './cpu.js';

/** The repository root: children run from here so `src/main.ts` and `bench/...` resolve. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LIFELINE = fileURLToPath(new URL('./lifeline.ts', import.meta.url));
export const HOST = '127.0.0.1';

/** Every child still running, so that any way out of the bench stops them all. */
const live = new Set<Child>();

export interface ChildOptions {
  /** Shown in progress lines and errors. */
  readonly name: string;
  /** Script path relative to the repository root. */
  readonly script: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Extra node flags, e.g. `--expose-gc` or `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** The child exits by itself after this long, whatever the bench does. */
  readonly maxLifetimeMs: number;
}

/**
 * A node process started by the bench with an IPC channel (its lifeline) and its output kept in a
 * short tail for error messages.
 */
export class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly tail: string[] = [];

  constructor(options: ChildOptions) {
    this.name = options.name;
    this.proc = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), '--import', 'tsx', '--import', LIFELINE, options.script],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...options.env, BENCH_CHILD_MAX_MS: String(options.maxLifetimeMs) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    live.add(this);
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') this.tail.push(line);
      if (this.tail.length > 20) this.tail.splice(0, this.tail.length - 20);
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this);
        this.exitInfo = { code, signal };
        resolve({ code, signal });
      });
      this.proc.once('error', (err) => {
        live.delete(this);
        this.tail.push(String(err));
        this.exitInfo = { code: null, signal: null };
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error(`${this.name}: process did not start`);
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** CPU time (user + system, all threads) the child has used so far, in seconds. Linux only. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }

  /** What the child last printed, for error messages. */
  output(): string {
    return this.tail.map((l) => `    | ${l}`).join('\n');
  }

  /** Why the child is gone, with its last output. */
  describeExit(): string {
    const how = this.exitInfo?.signal ? `signal ${this.exitInfo.signal}` : `code ${this.exitInfo?.code}`;
    return `${this.name} exited (${how})${this.tail.length > 0 ? `:\n${this.output()}` : ''}`;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Kills every child still running, synchronously (safe inside `process.on('exit')`). */
export function killAllChildren(): void {
  for (const child of live) {
    try {
      child.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once `port` accepts connections and does not answer `/readyz` with 503 (the service binds
 * its port before recovering state); rejects if the child exits first or `timeoutMs` passes.
 */
export async function waitForPort(child: Child, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running) throw new Error(child.describeExit());
    if ((await canConnect(port)) && (await notUnready(port))) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not listen on ${HOST}:${port} within ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function notUnready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet({ host: HOST, port, path: '/readyz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode !== 503);
    });
    req.once('error', () => resolve(false));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface ServerChild {
  readonly child: Child;
  readonly port: number;
  stop(): Promise<void>;
}

export type ServerOptions = ChildOptions;

/** Starts an HTTP server script on a free loopback port (PORT/HOST env) and waits until it listens. */
export async function startServer(options: ServerOptions): Promise<ServerChild> {
  const port = await freePort();
  const child = new Child({
    name: options.name,
    script: options.script,
    nodeArgs: options.nodeArgs,
    maxLifetimeMs: options.maxLifetimeMs,
    env: { PORT: String(port), HOST, LOG_LEVEL: 'warn', ...options.env },
  });
  try {
    await waitForPort(child, port);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, port, stop: () => child.stop() };
}
