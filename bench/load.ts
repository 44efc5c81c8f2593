import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HOST } from './lib/children.js';

/**
 * A keep-alive HTTP/1.1 load generator over raw sockets: each connection sends one pre-built request,
 * waits for the whole response, then sends the next (no pipelining). Requests are bytes built before
 * the run, so generating them is never measured, and the client spends as little of the shared CPU
 * as it can. Bounded twice: by the number of requests given and by `durationMs` (+ `graceMs` for the
 * requests in flight, after which they are cut off and counted as failed).
 */
export interface LoadOptions {
  readonly port: number;
  readonly requests: readonly Buffer[];
  readonly connections: number;
  readonly durationMs: number;
  readonly graceMs?: number;
  /** Sees each response whose status is 2xx, e.g. to read created ids or stats. */
  readonly onResponse?: (index: number, status: number, body: Buffer) => void;
}

export interface LoadResult {
  /** Requests sent; they are always the first `issued` of `requests`. */
  readonly issued: number;
  /** Answered 2xx. */
  readonly ok: number;
  /** Answered otherwise, or cut off by an error or the time limit. */
  readonly failed: number;
  readonly statuses: Readonly<Record<number, number>>;
  readonly firstError: string | undefined;
  readonly elapsedMs: number;
  /** Latency of each 2xx answer in ms, in completion order (`ok` entries). */
  readonly latenciesMs: Float64Array;
}

/** The raw bytes of one HTTP/1.1 request (Host has no port so the same bytes fit every server). */
export function httpRequest(method: 'GET' | 'POST', path: string, body?: string): Buffer {
  if (body === undefined) return Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 'latin1');
  const payload = Buffer.from(body);
  const head = `${method} ${path} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_ERRORS = 100;

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { requests, onResponse } = options;
  const graceMs = options.graceMs ?? 5000;
  const latencies = new Float64Array(requests.length);
  const statuses: Record<number, number> = {};
  let next = 0;
  let ok = 0;
  let failed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stopping = false;
  let active = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));

  const fail = (why: string): void => {
    failed++;
    errors++;
    firstError ??= why;
    if (errors >= MAX_ERRORS) stopping = true;
  };

  class Connection {
    private socket: Socket | undefined;
    private index = -1;
    private started = 0;
    private pending: Buffer | undefined;

    open(): Promise<void> {
      return new Promise((resolve, reject) => {
        const socket = connect(options.port, HOST);
        this.socket = socket;
        socket.setNoDelay(true);
        socket.once('connect', () => resolve());
        socket.on('data', (chunk: Buffer) => this.onData(chunk));
        socket.on('error', (err) => {
          reject(err);
          this.abort(`socket error: ${err.message}`);
        });
        socket.on('close', () => this.abort('connection closed by the server'));
      });
    }

    /** Sends the next request, or retires this connection. */
    send(): void {
      const socket = this.socket;
      if (stopping || next >= requests.length || socket === undefined || socket.destroyed) {
        this.retire();
        return;
      }
      this.index = next++;
      this.pending = undefined;
      this.started = performance.now();
      socket.write(requests[this.index]);
    }

    retire(): void {
      this.index = -1;
      this.socket?.destroy();
      if (--active === 0) resolveDone();
    }

    private onData(chunk: Buffer): void {
      if (this.index < 0) return;
      const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
      const headerEnd = buf.indexOf(HEADER_END);
      if (headerEnd < 0) {
        this.pending = buf;
        return;
      }
      const head = buf.toString('latin1', 0, headerEnd).toLowerCase();
      const status = Number(head.slice(9, 12));
      const lengthAt = head.indexOf('\r\ncontent-length:');
      if (lengthAt < 0) {
        this.complete(-1, buf, 'response without Content-Length');
        return;
      }
      const length = parseInt(head.slice(lengthAt + 17), 10);
      const end = headerEnd + 4 + length;
      if (buf.length < end) {
        this.pending = buf;
        return;
      }
      this.complete(status, buf.subarray(headerEnd + 4, end), buf.length > end ? 'unexpected bytes after a response' : undefined);
    }

    private complete(status: number, body: Buffer, protocolError: string | undefined): void {
      const index = this.index;
      this.index = -1;
      this.pending = undefined;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (protocolError !== undefined) {
        fail(protocolError);
        this.retire();
        return;
      }
      if (status >= 200 && status < 300) {
        latencies[ok++] = performance.now() - this.started;
        onResponse?.(index, status, body);
      } else {
        fail(`HTTP ${status}: ${body.toString().slice(0, 200)}`);
      }
      this.send();
    }

    /** Drops the socket without counting anything (the run is over). */
    close(): void {
      this.index = -1;
      this.socket?.destroy();
    }

    /** The connection broke or was cut off: a request in flight counts as failed. */
    abort(why: string): void {
      if (this.index < 0) return;
      this.index = -1;
      fail(why);
      if (--active === 0) resolveDone();
    }
  }

  const connections = Array.from({ length: Math.min(options.connections, requests.length) }, () => new Connection());
  try {
    await Promise.all(connections.map((c) => c.open()));
  } catch (err) {
    for (const c of connections) c.close();
    throw new Error(`cannot connect to ${HOST}:${options.port}: ${(err as Error).message}`, { cause: err });
  }
  const t0 = performance.now();
  active = connections.length;
  const stopTimer = setTimeout(() => (stopping = true), options.durationMs);
  const cutTimer = setTimeout(() => {
    for (const c of connections) c.abort(`no answer within ${options.durationMs + graceMs} ms`);
    resolveDone();
  }, options.durationMs + graceMs);
  for (const c of connections) c.send();
  if (active > 0) await done;
  const elapsedMs = performance.now() - t0;
  clearTimeout(stopTimer);
  clearTimeout(cutTimer);
  for (const c of connections) c.close();
  return { issued: next, ok, failed, statuses, firstError, elapsedMs, latenciesMs: latencies.subarray(0, ok) };
}
