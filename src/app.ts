import Koa from 'koa';
import type { Counter } from './counter.js';
import { errorHandler } from './http/errors.js';
import { apiRouter } from './http/routes.js';
import type { Logger } from './log.js';

export interface AppDeps {
  readonly counter: Counter;
  readonly bodyLimitBytes: number;
  readonly batchLimit: number;
  readonly logger: Logger;
}

/** Builds the Koa application. It never listens: `main.ts` does, tests use `app.callback()`. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  const router = apiRouter(deps.counter, deps);
  app.on('error', (err: unknown) => deps.logger.error({ err }, 'request failed'));
  app.use(errorHandler);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
