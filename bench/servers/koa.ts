import Router from '@koa/router';
import Koa from 'koa';
import { jsonBody } from '../../src/http/json-body.js';
import { impressionSchema } from '../../src/http/schemas.js';
import { compile } from '../../src/http/validate.js';

/**
 * Baseline: the framework ceiling. Koa with the service's router, its body reader (`jsonBody`) and
 * one compiled ajv schema (the service's impression schema), and no actors: a valid body is
 * answered 202. Sharing the service's body reader keeps "same router, body parsing and validation"
 * true as the service's hot path changes, so ours / Koa is the cost of everything else.
 */
const BODY_LIMIT = 1024 * 1024;
// The service's ajv instance: it knows the schema's formats (date-time).
const validate = compile(impressionSchema);

const router = new Router({ prefix: '/api/v1' });
router.post('/impressions', jsonBody(BODY_LIMIT), (ctx) => {
  const body: unknown = ctx.request.body;
  const items: unknown[] = Array.isArray(body) ? body : [body];
  for (const item of items) if (!validate(item)) ctx.throw(400, 'invalid impression');
  ctx.status = 202;
  ctx.body = { accepted: true };
});
router.get('/campaigns/:id/stats', (ctx) => {
  ctx.body = { campaign_id: ctx.params.id, last_hour: 0, last_day: 0, total: 0 };
});

const app = new Koa();
app.use(router.routes());
app.use(router.allowedMethods());
const server = app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => process.exit(0));
