import { setImmediate as nextTurn } from 'node:timers/promises';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { Outcome } from '../actors/protocol.js';
import type { DeadLetterReport, RegistryDescription, SupervisedCampaign } from '../actors/registry/registry.js';

/**
 * What became of one impression as the API saw it: an actor outcome, rejected before routing
 * (`invalid`), or lost to an unexpected failure (`error`).
 */
export type ImpressionOutcome = Outcome | 'invalid' | 'error';

/** Counts impression outcomes; the HTTP handler is its only caller. */
export interface OutcomeRecorder {
  add(outcome: ImpressionOutcome, n?: number): void;
}

/**
 * One series per outcome of `counter`: counted, duplicate, replayed (a retry of a known id, whatever
 * its first outcome: it counted nothing), bot_filtered, and rejected by reason.
 */
function outcomeSeries(counter: FastCounter, reasons: readonly ImpressionOutcome[]): OutcomeRecorder {
  const rejected = (reason: string): CounterSeries => counter.series({ outcome: 'rejected', reason });
  const replayed = counter.series({ outcome: 'replayed' });
  const children: Partial<Record<ImpressionOutcome, CounterSeries>> = {
    counted: counter.series({ outcome: 'counted' }),
    duplicate: counter.series({ outcome: 'duplicate' }),
    replayed_counted: replayed,
    replayed_duplicate: replayed,
    bot_filtered: counter.series({ outcome: 'bot_filtered' }),
  };
  // Present (at 0) from the start, so that a rate over them never starts from nothing.
  for (const reason of reasons) children[reason] = rejected(reason);
  return {
    add: (outcome, n = 1) => {
      // An outcome added to the protocol later shows up as a rejection reason of its own.
      (children[outcome] ??= rejected(outcome)).value += n;
    },
  };
}

/** For apps built without metrics. */
export const NO_OUTCOMES: OutcomeRecorder = { add: () => {} };

/** Where the live figures (actors, dedupe keys, restarts) come from at scrape time. */
export interface MetricsSource {
  describe(page: { readonly after?: number; readonly limit?: number }): Promise<RegistryDescription>;
}

/** The whole actor tree summed up, and the first campaigns of it. */
export interface TreeFigures {
  readonly campaigns: number;
  readonly suspended: number;
  readonly restarts: number;
  readonly dedupeKeys: number;
  readonly bytes: number;
  /** The first `keep` campaigns, in creation order. */
  readonly children: SupervisedCampaign[];
}

/** Campaigns described per turn of the event loop: each one is a message to its actor. */
export const DESCRIBE_PAGE = 1000;

/**
 * Walks every campaign a page at a time, yielding to the event loop between pages so that requests
 * are served meanwhile (100k campaigns in one `describe` would pause everything for a good fraction
 * of a second), and sums what metrics and the inspector show.
 */
export async function describeTree(source: MetricsSource, keep = 0): Promise<TreeFigures> {
  const children: SupervisedCampaign[] = [];
  let dedupeKeys = 0;
  let bytes = 0;
  let after = 0;
  for (;;) {
    const page = await source.describe({ after, limit: DESCRIBE_PAGE });
    for (const c of page.children) {
      dedupeKeys += c.dedupeEntries;
      bytes += c.bytes;
      if (children.length < keep) children.push(c);
    }
    if (page.next === undefined || page.next <= after) {
      return { campaigns: page.campaigns, suspended: page.suspended, restarts: page.restarts, dedupeKeys, bytes, children };
    }
    after = page.next;
    await nextTurn();
  }
}

/** The HTTP layer's load against its limits (see `watchHttp`). */
export interface HttpLoad {
  readonly connections: { readonly open: number; readonly refused: number };
  readonly bodies: { readonly used: number; readonly refused: number };
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

/** fdatasync times in seconds: an SSD answers in well under a millisecond, a busy disk in tens. */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** Methods kept as label values; anything else is `other`, so odd clients cannot add series. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

interface RouteSeries {
  readonly duration: HistogramSeries;
  readonly byStatus: Map<number, CounterSeries>;
  readonly method: string;
  readonly route: string;
}

/**
 * The service's Prometheus metrics, on a registry of its own (not prom-client's global one, so tests
 * can build many apps). The hot path only adds to plain numbers on series resolved once (a
 * prom-client label child re-hashes and re-validates its labels on every `inc`, ~1 µs); they are
 * turned into exposition text at scrape time, where figures that need the actors are also gathered
 * through one `describe` ask.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Impression outcome counters, one series per outcome. */
  readonly impressions: OutcomeRecorder;
  /** Click outcome counters, the same series as impressions'. */
  readonly clicks: OutcomeRecorder;

  private readonly requests: FastCounter;
  private readonly latency: FastHistogram;
  private readonly routes = new Map<string, RouteSeries>();
  private readonly deadLetters: Counter<string>;
  private readonly journalUp: Gauge<string>;
  private readonly journalFailures: Counter<string>;
  private readonly snapshotFailures: Counter<string>;
  private readonly fsync: HistogramSeries;
  private readonly source: MetricsSource;
  private processMetrics: boolean;
  private pending: Promise<TreeFigures | undefined> | undefined;

  constructor(options: MetricsOptions) {
    this.source = options.source;
    this.processMetrics = options.processMetrics ?? true;
    const registers = [this.registry];

    this.requests = new FastCounter(this.registry, `${PREFIX}http_requests_total`, 'HTTP requests answered, by method, route template and status.');
    this.latency = new FastHistogram(
      this.registry,
      `${PREFIX}http_request_duration_seconds`,
      'Time from receiving a request to its response being ready, by method and route template.',
      LATENCY_BUCKETS,
    );

    this.impressions = outcomeSeries(
      new FastCounter(this.registry, `${PREFIX}impressions_total`, 'Impressions received, by outcome (counted, duplicate, replayed, bot_filtered, rejected) and, for rejected ones, reason.'),
      ['invalid', 'not_found', 'not_started', 'unavailable', 'dead_letter', 'error'],
    );
    this.clicks = outcomeSeries(
      new FastCounter(this.registry, `${PREFIX}clicks_total`, 'Clicks received, by outcome (counted, duplicate, replayed, bot_filtered, rejected) and, for rejected ones, reason.'),
      ['invalid', 'not_found', 'not_started', 'unavailable', 'error'],
    );

    this.fsync = new FastHistogram(
      this.registry,
      `${PREFIX}journal_fsync_seconds`,
      'Time each journal fdatasync took: per group commit (DURABILITY=fsync) or per once-a-second sync (interval).',
      FSYNC_BUCKETS,
    ).series({});

    this.journalUp = new Gauge({ name: `${PREFIX}journal_writable`, help: 'Whether the journal can write and sync (1), or the disk refuses it and writes answer 507/503 (0).', registers });
    this.journalUp.set(1);
    this.journalFailures = new Counter({ name: `${PREFIX}journal_failures_total`, help: 'Times the journal became unable to write or sync, by error code (ENOSPC, EIO, ...); nothing it held was acknowledged.', labelNames: ['code'], registers });
    this.snapshotFailures = new Counter({ name: `${PREFIX}snapshot_failures_total`, help: 'Snapshots that failed or did not read back; the previous generations were kept.', registers });

    this.deadLetters = new Counter({
      name: `${PREFIX}dead_letters_total`,
      help: 'Impressions set aside in the dead-letter log after crashing their campaign actor repeatedly.',
      registers,
    });

    const live = (name: string, help: string, pick: (d: TreeFigures) => number): void => {
      const describe = (): Promise<TreeFigures | undefined> => this.describeOnce();
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
    live('dedupe_keys', 'Live dedupe keys (campaign, user) across all campaigns.', (d) => d.dedupeKeys);
    live('state_bytes', 'Approximate bytes held by campaign state (dedupe tables, windows, idempotency keys).', (d) => d.bytes);

    const describe = (): Promise<TreeFigures | undefined> => this.describeOnce();
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
      series = this.routes.get(m + route);
      if (series === undefined) {
        series = { duration: this.latency.series({ method: m, route }), byStatus: new Map(), method: m, route };
        this.routes.set(m + route, series);
      }
    }
    let requests = series.byStatus.get(status);
    if (requests === undefined) {
      requests = this.requests.series({ method: series.method, route: series.route, status: String(status) });
      series.byStatus.set(status, requests);
    }
    requests.value++;
    series.duration.observe(seconds);
  }

  /**
   * What the HTTP layer holds against its limits, read at each scrape: connections against
   * MAX_CONNECTIONS and buffered request bodies against BODY_BUFFER_BUDGET, with the refusals each
   * limit answered (503) since start.
   */
  watchHttp(load: HttpLoad): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name: PREFIX + name, help, registers, collect() { this.set(read()); } });
    };
    const total = (name: string, help: string, read: () => number): void => {
      new Counter({ name: PREFIX + name, help, registers, collect() { this.reset(); this.inc(read()); } });
    };
    gauge('http_connections', 'Connections open now (at most MAX_CONNECTIONS).', () => load.connections.open);
    total('http_connections_refused_total', 'Connections answered 503 and closed because MAX_CONNECTIONS were open.', () => load.connections.refused);
    gauge('body_buffer_bytes', 'Bytes of request bodies being buffered now (at most BODY_BUFFER_BUDGET).', () => load.bodies.used);
    total('bodies_refused_total', 'Request bodies answered 503 because BODY_BUFFER_BUDGET could not hold them.', () => load.bodies.refused);
  }

  /**
   * What recovery found at start: records replayed and skipped, records missing before a later one
   * (lost), damaged stretches, and files set aside. Set once, after recovery.
   */
  recovered(report: { records: number; analyticsRecords: number; repeated: number; orphaned: number; missing: number; damaged: readonly unknown[]; torn: readonly unknown[]; quarantined: readonly unknown[]; ms: number }): void {
    const gauge = (name: string, help: string, value: number) => new Gauge({ name: PREFIX + name, help, registers: [this.registry] }).set(value);
    gauge('recovery_records_replayed', 'Journal records replayed at start (counting and analytics).', report.records + report.analyticsRecords);
    gauge('recovery_records_skipped', 'Journal records read at start but not applied: repeats of records written again after a failed sync, and records of campaigns whose creation is missing.', report.repeated + report.orphaned);
    gauge('recovery_records_missing', 'Journal records missing before a later one at start (gaps): records lost. Non-zero only with RECOVERY=lenient.', report.missing + report.orphaned);
    gauge('recovery_damaged', 'Unreadable stretches of journal segments and unreadable snapshots found at start (torn tails left by a crash not included).', report.damaged.length);
    gauge('recovery_torn_tails', 'Journal segments ending in a torn write at start (left by a crash; never acknowledged).', report.torn.length);
    gauge('recovery_quarantined_files', 'Files moved or copied into DATA_DIR/quarantine/ at start.', report.quarantined.length);
    gauge('recovery_seconds', 'How long recovery took at start.', report.ms / 1000);
  }

  /** Whether the journal can write (1) or the disk is refusing it (0), and failures by error code. */
  readonly journalHealth = (health: { ok: boolean; code?: string }): void => {
    this.journalUp.set(health.ok ? 1 : 0);
    if (!health.ok) this.journalFailures.inc({ code: health.code ?? 'EUNKNOWN' });
  };

  /** Counts a snapshot that failed (it left the previous generations in place). */
  snapshotFailed(): void {
    this.snapshotFailures.inc();
  }

  /** Records one journal fdatasync (the store's `onSync`). */
  readonly journalSynced = (seconds: number): void => {
    this.fsync.observe(seconds);
  };

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

  /** One walk of the tree per scrape, shared by every gauge collected in it; failures leave values as they were. */
  private describeOnce(): Promise<TreeFigures | undefined> {
    this.pending ??= describeTree(this.source)
      .catch(() => undefined)
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

/** One labelled counter value, bumped in place. */
interface CounterSeries {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/**
 * A metric whose series are plain objects bumped in place, registered with prom-client, which reads
 * them through `get()` at scrape time.
 */
abstract class FastMetric<S> {
  readonly aggregator = 'sum';
  protected readonly all: S[] = [];

  constructor(
    registry: Registry,
    readonly type: 'counter' | 'histogram',
    readonly name: string,
    readonly help: string,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** A new series (callers keep it; asking twice for the same labels makes two). */
  series(labels: Record<string, string>): S {
    const s = this.newSeries(labels);
    this.all.push(s);
    return s;
  }

  protected abstract newSeries(labels: Record<string, string>): S;
}

/** A counter whose series are plain objects. */
class FastCounter extends FastMetric<CounterSeries> {
  constructor(registry: Registry, name: string, help: string) {
    super(registry, 'counter', name, help);
  }

  protected newSeries(labels: Record<string, string>): CounterSeries {
    return { labels, value: 0 };
  }

  get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.all.map((s) => ({ labels: s.labels, value: s.value })) };
  }

  reset(): void {
    for (const s of this.all) s.value = 0;
  }
}

/** One labelled histogram: per-bucket counts (not cumulative until scraped), sum and count. */
class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** A histogram whose series are plain objects, written out as `_bucket`/`_sum`/`_count` at scrape time. */
class FastHistogram extends FastMetric<HistogramSeries> {
  constructor(
    registry: Registry,
    name: string,
    help: string,
    private readonly bounds: readonly number[],
  ) {
    super(registry, 'histogram', name, help);
  }

  protected newSeries(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.all) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i];
        const le = i < this.bounds.length ? this.bounds[i] : '+Inf';
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.all) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

