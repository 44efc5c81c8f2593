import { createServer } from 'node:http';
import { systemClock } from '../actors/clock.js';
import { startCounterSystem } from '../actors/system.js';
import { createApp } from './app.js';
import { ConfigError, helpText, loadConfig, type Config } from './config.js';
import { Counter } from './counter.js';
import { createLogger } from './log.js';

/** Reads config, starts the actor system, listens, and shuts down on SIGTERM/SIGINT. */
function main(argv: readonly string[]): void {
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
  const system = startCounterSystem({
    clock: systemClock,
    ttlMs: config.dedupTtlMs,
    tickMs: config.sweepIntervalMs,
    sweepBudget: config.sweepBudget,
    supervision: { maxRestarts: config.maxRestarts, windowMs: config.restartWindowMs },
    onSupervision: (r) =>
      logger.warn({ campaign_id: r.campaignId, decision: r.decision, restarts_in_window: r.restartsInWindow, err: r.error }, 'campaign actor crashed'),
    onFatal: (err) => {
      logger.fatal({ err }, 'registry actor failed; exiting');
      process.exit(1);
    },
  });
  const counter = new Counter({ registry: system.registry, clock: system.clock, askTimeoutMs: config.askTimeoutMs });
  const app = createApp({ counter, bodyLimitBytes: config.bodyLimitBytes, batchLimit: config.batchLimit, logger });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;

  server.listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    logger.info({ host: config.host, port, dedup_ttl_ms: config.dedupTtlMs, store: 'memory' }, `listening on http://${config.host}:${port}`);
  });

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    deadline.unref();
    server.close(() => {
      system.stop();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main(process.argv.slice(2));
