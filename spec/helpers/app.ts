import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { pino } from 'pino';
import sinon from 'sinon';
import type { Clock } from '../../actors/counting/clock.js';
import type { CounterSystem } from '../../actors/system.js';
import type { SupervisionReport } from '../../actors/registry/registry.js';
import type { RemoteCampaignLogic } from '../../actors/remote-campaign/remote-campaign.js';
import type { StateBudget } from '../../actors/counting/budget.js';
import type { AppDeps } from '../../src/app.js';
import { buildApp, startCounting } from '../../src/compose.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Counter, CampaignDirectory } from '../../src/counter.js';
import { BodyBudget } from '../../src/http/body-budget.js';
import { withFastLane } from '../../src/http/fast-lane.js';
import type { LiveFigures } from '../../src/http/live.js';
import { bodyOf } from './http.js';

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
  /** MEMORY_BUDGET and MAX_CAMPAIGNS (unbounded when absent). */
  budget?: StateBudget;
  /** An API key every `request` sends (as `Authorization: Bearer`) unless the call gives its own. */
  key?: string;
  /** More app dependencies (metrics, readiness, inspector, logger), built around the started system. */
  deps?: (system: CounterSystem, counter: Counter) => Partial<AppDeps>;
}

export interface TestApp {
  readonly system: CounterSystem;
  readonly counter: Counter;
  readonly app: Koa;
  /** The dashboard's live-figure streams. */
  readonly live: LiveFigures;
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
  const config: Config = {
    ...loadConfig({}),
    dedupTtlMs: options.ttlMs ?? 3_600_000,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    batchLimit: options.batchLimit ?? 10_000,
    maxRestarts: options.maxRestarts ?? 5,
    restartWindowMs: options.restartWindowMs ?? 60_000,
    clickDedupTtlMs: options.clickTtlMs ?? 0,
    askTimeoutMs: 1000,
  };
  const { system, counter } = startCounting(config, { clock: options.clock, onSupervision: options.onSupervision, remote: options.remote, campaigns: options.campaigns, budget: options.budget });
  const { app, fastLane, live } = buildApp(config, counter, { logger: pino({ level: 'silent' }), bodyBudget: new BodyBudget(64 * 1024 * 1024), ...options.deps?.(system, counter) });
  // As main.ts serves it: the ingest fast lane in front of Koa.
  const server: Server = createServer(withFastLane(app.callback(), fastLane));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    system,
    counter,
    app,
    live,
    baseUrl,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...(options.key !== undefined && { authorization: `Bearer ${options.key}` }), ...headers } };
      if (body !== undefined) {
        // Strings and bytes go as they are (bytes for bodies that are not valid UTF-8).
        init.body = typeof body === 'string' ? body : body instanceof Uint8Array ? new Blob([new Uint8Array(body)]) : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      const res = await fetch(baseUrl + path, init);
      return { status: res.status, headers: res.headers, body: bodyOf(await res.text()) };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      system.stop();
    },
  };
}

/** A suite's test app: `start()` starts one (closing any before it); each test ends with it closed. */
export interface TestAppSlot extends TestApp {
  start(options?: TestAppOptions): Promise<void>;
}

/**
 * A slot for the suite's test app, standing for whichever app `start()` made last; after each test
 * that app is closed and sinon restored.
 */
export function testAppSlot(): TestAppSlot {
  let running: TestApp | undefined;
  const close = async (): Promise<void> => {
    const app = running;
    running = undefined;
    await app?.close();
  };
  const slot = {
    async start(options: TestAppOptions = {}) {
      await close();
      running = await startTestApp(options);
      Object.assign(slot, running, { close });
    },
  } as TestAppSlot;
  afterEach(async () => {
    sinon.restore();
    await close();
  });
  return slot;
}

/**
 * A test app started before each test (or once for the suite, with `per: 'suite'`) and closed after;
 * the returned object stands for whichever is running.
 */
export function useTestApp(options: TestAppOptions = {}, per: 'test' | 'suite' = 'test'): TestApp {
  if (per === 'test') {
    const slot = testAppSlot();
    beforeEach(() => slot.start(options));
    return slot;
  }
  const current = {} as TestApp;
  before(async () => {
    Object.assign(current, await startTestApp(options));
  });
  after(() => current.close());
  return current;
}
