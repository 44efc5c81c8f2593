import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { analyticsConfig } from './use-cases/analytics.js';
import { campaignReplay, type CampaignState } from '../actors/campaign/campaign.js';
import { StateBudget } from '../actors/counting/budget.js';
import { watchBudget } from './budget.js';
import { buildApp, openKeys, openRedis, rateLimits, startCounting } from './compose.js';
import { ConfigError, helpText, loadConfig, type Config } from './config.js';
import { Readiness } from './health.js';
import { withFastLane } from './http/fast-lane.js';
import { startingAnswer } from './http/ops.js';
import { createHttpServer } from './http/server.js';
import { Inspector } from './inspector.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { RecoveryRefusedError, Store, type RecoveryReport } from './storage/store.js';

/** How long shutdown waits for the final snapshot (the whole shutdown must end within 10 s). */
const FINAL_SNAPSHOT_WITHIN_MS = 6000;
/** How often the snapshot triggers (time, journal size) are checked, and how soon a failed snapshot is retried. */
const SNAPSHOT_CHECK_MS = 1000;
const SNAPSHOT_RETRY_MS = 30_000;
/** Exit code of a start refused because recovery would lose acknowledged records. */
const EXIT_RECOVERY_REFUSED = 3;

/** Reads config, recovers durable state, starts the actor system, listens, and drains on SIGTERM/SIGINT. */
async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`impression-counter: ${err.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  const fatal = (what: string) => (err: unknown) => {
    logger.fatal({ err }, `${what}; exiting`);
    process.exit(1);
  };

  // The port is bound before recovery, so that probes see `/healthz` alive and `/readyz` unready
  // ("recovering") while a large state loads; every other request is answered 503 until then.
  const readiness = new Readiness('recovering');
  const recovering = startingAnswer(readiness);
  const connections = { open: 0, refused: 0 };
  const server = createHttpServer(
    recovering,
    { requestTimeoutMs: config.requestTimeoutMs, headersTimeoutMs: config.headersTimeoutMs, maxConnections: config.maxConnections, keepAliveTimeoutMs: 65_000 },
    logger,
    connections,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  // STORE=redis: Redis holds the counting state, so there is nothing of it to keep on the local disk.
  const redis = config.store === 'redis' ? await openRedis(config, logger) : undefined;
  // Made before recovery so the journal can report its fsyncs; the actors' figures are asked for at
  // scrape time, by when `counter` exists.
  const metrics: Metrics = new Metrics({ source: { describe: () => counter.campaigns.describe() } });
  const durable = config.durability === 'off' || redis ? undefined : await recover(config, logger, metrics, readiness);
  if (durable) {
    logger.info({ ...durable.report }, 'recovered state from disk');
    metrics.recovered(durable.report);
    const r = durable.report;
    if (r.missing + r.orphaned + r.damaged.length > 0) readiness.details.recovery = recoverySummary(r);
  }

  const store = durable?.store;
  // Memory mode only: with STORE=redis the nodes hold no counting state.
  const budget = redis ? undefined : new StateBudget({ maxBytes: config.memoryBudgetBytes, maxCampaigns: config.maxCampaigns });
  const { system, counter } = startCounting(config, {
    budget,
    journal: store?.journal,
    remote: redis?.logic,
    campaigns: redis?.store,
    onSupervision: (r) =>
      logger.warn({ campaign_id: r.campaignId, decision: r.decision, restarts_in_window: r.restartsInWindow, err: r.error }, 'campaign actor crashed'),
    onDeadLetter: (r) => void deadLetter(config, logger, r),
    onFatal: fatal('registry actor failed'),
  });
  for (const state of durable?.states ?? []) system.registry.send({ type: 'campaign.restore', state });

  metrics.watch(system.registry);
  const inspector = config.inspector ? new Inspector({ system: system.registry.system }) : undefined;
  const keys = await openKeys(config, { redis: redis?.store, durable: durable !== undefined }, logger);
  if (config.authOff) logger.warn('AUTH=off: every client can create campaigns, count, read and administer; use only on a trusted network');
  else if (!keys.configured) logger.warn('no API keys: serving loopback clients only (set ADMIN_KEY and create keys with POST /api/v1/keys)');
  if (config.beaconSecret === '') logger.warn('BEACON_SECRET is unset: beacon URLs are signed with a random secret and stop working at restart');
  const http = buildApp(config, counter, { logger, metrics, readiness, inspector, redisAdmin: redis?.store, keys, rateLimits: rateLimits(config, redis?.store) });
  metrics.watchHttp({ connections, bodies: http.fastLane.bodyBudget });
  // Recovered and wired: the real app takes over the bound port, behind the ingest fast lane.
  server.off('request', recovering);
  server.on('request', withFastLane(http.app.callback(), http.fastLane));

  // A snapshot every SNAPSHOT_INTERVAL, or sooner once the journal has grown by
  // SNAPSHOT_JOURNAL_BYTES (which bounds the replay at the next start); a failed one is retried
  // after SNAPSHOT_RETRY_MS, not every second.
  let nextSnapshotAt = Date.now() + config.snapshotIntervalMs;
  const snapshots = store
    ? setInterval(() => {
        const now = Date.now();
        if (now < nextSnapshotAt && !store.journalGrown(config.snapshotJournalBytes)) return;
        nextSnapshotAt = Number.POSITIVE_INFINITY;
        store.snapshot(system.registry).then(
          (r) => {
            nextSnapshotAt = Date.now() + config.snapshotIntervalMs;
            logger.info({ ...r }, 'snapshot written');
          },
          (err: unknown) => {
            nextSnapshotAt = Date.now() + Math.min(SNAPSHOT_RETRY_MS, config.snapshotIntervalMs);
            metrics.snapshotFailed();
            logger.error({ err }, 'snapshot failed; the previous generations are kept');
          },
        );
      }, SNAPSHOT_CHECK_MS)
    : undefined;
  snapshots?.unref();

  readiness.ready();
  redis?.store.reportTo(readiness);
  if (budget) watchBudget(budget, readiness, logger);
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info(
    {
      host: config.host,
      port,
      dedup_ttl_ms: config.dedupTtlMs,
      store: redis ? 'redis' : store ? 'disk' : 'memory',
      durability: redis ? undefined : config.durability,
      data_dir: store ? config.dataDir : undefined,
      inspector: config.inspector ? `on at http://${config.host}:${port}/debug/` : 'off',
    },
    `listening on http://${config.host}:${port}`,
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining: no new connections, finishing requests in flight');
    readiness.unready('draining');
    // Event streams never finish on their own; close them so the server can.
    inspector?.close();
    http.live.close();
    setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000).unref();
    clearInterval(snapshots);
    server.close(() => {
      void (async () => {
        // Exit 0 within 10 s whatever the size: a final snapshot still running after this gives way
        // to the journal, which is synced and complete.
        const report = store
          ? await store.close(system.registry, FINAL_SNAPSHOT_WITHIN_MS).catch((err: unknown) => {
              // Nothing that was not on disk was ever acknowledged: a failing disk loses no answer given.
              logger.error({ err }, 'the journal could not be flushed at shutdown; what it held was never acknowledged');
              return undefined;
            })
          : undefined;
        if (store && report === undefined) logger.warn('final snapshot did not finish in time; the synced journal holds everything');
        system.stop();
        await keys.close();
        await redis?.store.close();
        logger.info({ snapshot: report }, 'stopped');
        process.exit(0);
      })().catch(fatal('shutdown failed'));
    });
    // Keep-alive clients would hold the server open for 65 s: answer what is in flight with
    // `Connection: close`, and close connections as soon as they fall idle.
    server.on('request', (_req, res) => res.setHeader('Connection', 'close'));
    server.closeIdleConnections();
    setInterval(() => server.closeIdleConnections(), 100).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * Recovers DATA_DIR. A disk that fails is reported through readiness and metrics, never by exiting;
 * a recovery that would lose records stops the start (unless RECOVERY=lenient) with what to do next.
 */
async function recover(config: Config, logger: Logger, metrics: Metrics, readiness: Readiness): Promise<Awaited<ReturnType<typeof Store.open<CampaignState>>>> {
  try {
    return await Store.open({
      dir: config.dataDir,
      replay: campaignReplay,
      mode: config.durability === 'interval' ? 'interval' : 'fsync',
      ttlMs: config.dedupTtlMs,
      maxPendingBytes: config.journalBacklogBytes,
      durabilityTimeoutMs: config.durabilityTimeoutMs,
      keep: config.snapshotKeep,
      recovery: config.recovery,
      logger,
      onHealth: (health) => {
        metrics.journalHealth(health);
        if (health.ok) {
          readiness.set('journal', undefined);
          logger.info('the journal writes again; taking new writes');
        } else {
          readiness.set('journal', `journal: ${health.reason}; new writes answer ${health.code === 'ENOSPC' ? 507 : 503}`);
          logger.error({ err: health.error, code: health.code }, 'the journal cannot write; refusing new writes, serving reads, retrying');
        }
      },
      onSync: metrics.journalSynced,
      analytics: analyticsConfig(config),
    });
  } catch (err) {
    if (!(err instanceof RecoveryRefusedError)) throw err;
    logger.fatal({ report: err.report }, 'recovery refused');
    process.stderr.write(`impression-counter: ${err.message}\n`);
    process.exit(EXIT_RECOVERY_REFUSED);
  }
}

/** What `/readyz` shows of a recovery that found damage or loss. */
function recoverySummary(r: RecoveryReport): Record<string, unknown> {
  return { records_missing: r.missing + r.orphaned, damaged: r.damaged.length, quarantined: r.quarantined, gaps: r.gaps };
}

/** Appends a dead letter to DATA_DIR/dead-letters.jsonl (when durable) and logs it. */
async function deadLetter(config: Config, logger: Logger, r: { campaignId: string; impression: unknown; error: unknown }): Promise<void> {
  logger.error({ campaign_id: r.campaignId, impression: r.impression, err: r.error }, 'impression set aside as a dead letter');
  if (config.durability === 'off') return;
  const line = JSON.stringify({ at: new Date().toISOString(), campaign_id: r.campaignId, impression: r.impression, error: String(r.error) });
  await appendFile(join(config.dataDir, 'dead-letters.jsonl'), line + '\n').catch((err: unknown) => logger.error({ err }, 'dead-letter log write failed'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`impression-counter: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
