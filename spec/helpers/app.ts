import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { pino } from 'pino';
import type { Clock } from '../../actors/clock.js';
import { systemClock } from '../../actors/clock.js';
import { startCounterSystem, type CounterSystem } from '../../actors/system.js';
import type { SupervisionReport } from '../../actors/registry.js';
import type { RemoteCampaignLogic } from '../../actors/remote-campaign.js';
import { DEFAULT_ANALYTICS_CONFIG } from '../../src/analytics.js';
import { createApp, type AppDeps } from '../../src/app.js';
import { Counter, type CampaignDirectory } from '../../src/counter.js';

export interface TestAppOptions {
  ttlMs?: number;
  clock?: Clock;
  bodyLimitBytes?: number;
  batchLimit?: number;
  maxRestarts?: number;
  restartWindowMs?: number;
  onSupervision?: (r: SupervisionReport) => void;
  /** CLICK_DEDUP_TTL (off when absent). */
  clickTtlMs?: number;
  /** STORE=redis: the campaign actors' logic and the campaign directory (see spec/helpers/backends.ts). */
  remote?: RemoteCampaignLogic;
  campaigns?: CampaignDirectory;
  /** An API key every `request` sends (as `Authorization: Bearer`) unless the call gives its own. */
  key?: string;
  /** More app dependencies (metrics, readiness, inspector, logger), built around the started system. */
  deps?: (system: CounterSystem, counter: Counter) => Partial<AppDeps>;
}

export interface TestApp {
  readonly system: CounterSystem;
  readonly counter: Counter;
  readonly app: Koa;
  readonly baseUrl: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** Builds the real app on an ephemeral loopback port (no fixed port), with a silent logger. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const clock = options.clock ?? systemClock;
  const analytics = options.clickTtlMs === undefined ? undefined : { ...DEFAULT_ANALYTICS_CONFIG, clickTtlMs: options.clickTtlMs };
  const system = startCounterSystem({
    clock,
    ttlMs: options.ttlMs ?? 3_600_000,
    tickMs: 250,
    sweepBudget: 65_536,
    supervision: { maxRestarts: options.maxRestarts ?? 5, windowMs: options.restartWindowMs ?? 60_000 },
    onSupervision: options.onSupervision,
    remote: options.remote,
    analytics,
  });
  const counter = new Counter({ registry: system.registry, clock, askTimeoutMs: 1000, campaigns: options.campaigns, analytics });
  const app = createApp({
    counter,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    batchLimit: options.batchLimit ?? 10_000,
    logger: pino({ level: 'silent' }),
    ...options.deps?.(system, counter),
  });
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    system,
    counter,
    app,
    baseUrl,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...(options.key !== undefined && { authorization: `Bearer ${options.key}` }), ...headers } };
      if (body !== undefined) {
        // Strings and bytes go as they are (bytes for bodies that are not valid UTF-8).
        init.body = typeof body === 'string' ? body : body instanceof Uint8Array ? new Blob([new Uint8Array(body)]) : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      const res = await fetch(baseUrl + path, init);
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON: leave the text for the assertion to show
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      system.stop();
    },
  };
}
