import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * Structured JSON logs on stdout, written synchronously: an asynchronous destination can reorder
 * the last lines (a write still in flight on the thread pool lands after the one flushed at exit)
 * or lose them at `process.exit`. The service logs a few lines per minute at `info`; per-request
 * lines exist only at `debug`.
 */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'impression-counter' } }, pino.destination({ dest: 1, sync: true }));
}
