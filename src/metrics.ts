import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Outcome } from '../actors/protocol.js';
import type { DeadLetterReport, RegistryDescription } from '../actors/registry.js';

/**
 * What became of one impression as the API saw it: an actor outcome, rejected before routing
 * (`invalid`), or lost to an unexpected failure (`error`).
 */
export type ImpressionOutcome = Outcome | 'invalid' | 'error';

/** Counts impression outcomes; the HTTP handler is its only caller. */
export interface OutcomeRecorder {
  add(outcome: ImpressionOutcome, n?: number): void;
}

/** For apps built without metrics. */
export const NO_OUTCOMES: OutcomeRecorder = { add: () => {} };

/** Where the live figures (actors, dedupe keys, restarts) come from at scrape time. */
export interface MetricsSource {
  describe(): Promise<RegistryDescription>;
}

/** The registry actor's `dead_letter` reports, as `actors/system.ts` exposes them. */
export interface DeadLetterSource {
  on(type: 'dead_letter', handler: (report: DeadLetterReport) => void): { unsubscribe(): void };
}

export interface MetricsOptions {
  readonly source: MetricsSource;
  /** Also register Node's default process metrics (CPU, memory, GC, event-loop lag) on first scrape. */
  readonly processMetrics?: boolean;
}

const PREFIX = 'impression_counter_';

/** Latency buckets in seconds: an in-memory impression answers in well under a millisecond. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Methods kept as label values; anything else is `other`, so odd clients cannot add series. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

interface RouteSeries {
  readonly duration: HistogramChild;
  readonly byStatus: Map<number, CounterChild>;
  readonly method: string;
  readonly route: string;
}

/**
 * The service's Prometheus metrics, on a registry of its own (not prom-client's global one, so tests
 * can build many apps). The hot path only calls `inc`/`observe` on label children resolved once;
 * figures that need the actors are gathered at scrape time through one `describe` ask.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Impression outcome counters, one pre-bound child per outcome. */
  readonly impressions: OutcomeRecorder;

  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route'>;
  private readonly routes = new Map<string, RouteSeries>();
  private readonly deadLetters: Counter<string>;
  private readonly source: MetricsSource;
  private processMetrics: boolean;
  private pending: Promise<RegistryDescription | undefined> | undefined;

  constructor(options: MetricsOptions) {
    this.source = options.source;
    this.processMetrics = options.processMetrics ?? true;
    const registers = [this.registry];

    this.requests = new Counter({
      name: `${PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time from receiving a request to its response being ready, by method and route template.',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });

    const impressions = new Counter({
      name: `${PREFIX}impressions_total`,
      help: 'Impressions received, by outcome (counted, duplicate, rejected) and, for rejected ones, reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    const rejected = (reason: string): CounterChild => impressions.labels({ outcome: 'rejected', reason });
    const children: Record<ImpressionOutcome, CounterChild> = {
      counted: impressions.labels({ outcome: 'counted' }),
      duplicate: impressions.labels({ outcome: 'duplicate' }),
      invalid: rejected('invalid'),
      not_found: rejected('not_found'),
      not_started: rejected('not_started'),
      unavailable: rejected('unavailable'),
      dead_letter: rejected('dead_letter'),
      error: rejected('error'),
    };
    for (const child of Object.values(children)) child.inc(0);
    this.impressions = { add: (outcome, n = 1) => children[outcome].inc(n) };

    this.deadLetters = new Counter({
      name: `${PREFIX}dead_letters_total`,
      help: 'Impressions set aside in the dead-letter log after crashing their campaign actor repeatedly.',
      registers,
    });

    const live = (name: string, help: string, pick: (d: RegistryDescription) => number): void => {
      const describe = (): Promise<RegistryDescription | undefined> => this.describeOnce();
      new Gauge({
        name: PREFIX + name,
        help,
        registers,
        async collect() {
          const d = await describe();
          if (d !== undefined) this.set(pick(d));
        },
      });
    };
    live('campaigns', 'Campaigns known to the registry.', (d) => d.campaigns);
    live('campaign_actors', 'Live campaign actors (campaigns not suspended).', (d) => d.campaigns - d.suspended);
    live('campaigns_suspended', 'Campaigns suspended after restarting too often; they answer 503 until their window passes.', (d) => d.suspended);
    live('dedupe_keys', 'Live dedupe keys (campaign, user) across all campaigns.', (d) => sum(d, (c) => c.dedupeEntries));
    live('state_bytes', 'Approximate bytes held by campaign state (dedupe tables, windows, idempotency keys).', (d) => sum(d, (c) => c.bytes));

    const describe = (): Promise<RegistryDescription | undefined> => this.describeOnce();
    new Counter({
      name: `${PREFIX}campaign_restarts_total`,
      help: 'Campaign actors restarted (or suspended) by the registry after a crash.',
      registers,
      async collect() {
        const d = await describe();
        if (d === undefined) return;
        this.reset();
        this.inc(d.restarts);
      },
    });
  }

  /** Records one answered request; `route` is the route template (never the raw path). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = method + route;
    let series = this.routes.get(key);
    if (series === undefined) {
      const m = METHODS.has(method) ? method : 'other';
      series = { duration: this.latency.labels(m, route), byStatus: new Map(), method: m, route };
      // Unknown methods all share the `other` series, so the cache stays as small as the label set.
      if (m === method) this.routes.set(key, series);
    }
    let requests = series.byStatus.get(status);
    if (requests === undefined) series.byStatus.set(status, (requests = this.requests.labels(series.method, series.route, String(status))));
    requests.inc();
    series.duration.observe(seconds);
  }

  /** Counts the registry's dead-letter reports; returns the subscription. */
  watch(source: DeadLetterSource): { unsubscribe(): void } {
    return source.on('dead_letter', () => this.deadLetters.inc());
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    if (this.processMetrics) {
      // Registered on first scrape: the GC observer and event-loop monitor cost nothing until watched.
      this.processMetrics = false;
      collectDefaultMetrics({ register: this.registry });
    }
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** One `describe` per scrape, shared by every gauge collected in it; failures leave values as they were. */
  private describeOnce(): Promise<RegistryDescription | undefined> {
    this.pending ??= this.source
      .describe()
      .catch(() => undefined)
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

function sum(d: RegistryDescription, pick: (c: RegistryDescription['children'][number]) => number): number {
  let total = 0;
  for (const c of d.children) total += pick(c);
  return total;
}
