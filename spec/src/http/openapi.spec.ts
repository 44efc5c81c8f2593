import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Router from '@koa/router';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import type Koa from 'koa';
import { Inspector } from '../../../src/inspector.js';
import { openApiDocument, toOpenApi } from '../../../src/http/openapi.js';
import { ROUTES } from '../../../src/http/route-table.js';
import { createCampaignSchema } from '../../../src/http/schemas.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, createCampaign, impression, postImpression } from '../../helpers/http.js';

const API_MD = fileURLToPath(new URL('../../../api.md', import.meta.url));

/** Every `METHOD /path` the app's routers register (HEAD aside), paths in OpenAPI form. */
function registeredRoutes(app: Koa): string[] {
  const routes = new Set<string>();
  for (const mw of app.middleware) {
    const router = (mw as { router?: Router }).router;
    if (router === undefined) continue;
    for (const layer of router.stack) {
      for (const method of layer.methods) {
        if (method === 'HEAD') continue;
        routes.add(`${method} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`);
      }
    }
  }
  return [...routes].sort();
}

function documentedRoutes(doc: Record<string, any>): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

describe('OpenAPI document (GET /api/v1/openapi.json)', () => {
  let t: TestApp;
  let doc: Record<string, any>;
  before(async () => {
    // With the inspector on and a Redis admin, so every route the service can serve is registered.
    const redisAdmin = { acceptReset: () => Promise.resolve({ accepted: false, epoch: undefined, repairedSlots: 0 }) };
    t = await startTestApp({ deps: (system) => ({ inspector: new Inspector({ system: system.registry.system }), redisAdmin }) });
    const res = await t.request('GET', `${API}/openapi.json`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    doc = res.body;
  });
  after(() => t.close());

  it('is OpenAPI 3.1 and the same document the code builds', () => {
    expect(doc.openapi).to.equal('3.1.0');
    expect(doc.info.title).to.equal('impression-counter');
    expect(doc).to.deep.equal(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('documents every route registered on the routers, and no route that is not', () => {
    const registered = registeredRoutes(t.app);
    const documented = documentedRoutes(doc);
    expect(registered).to.include.members(['POST /api/v1/impressions', 'GET /metrics', 'GET /debug/events']);
    const undocumented = registered.filter((r) => !documented.includes(r));
    const stale = documented.filter((r) => !registered.includes(r));
    expect(undocumented, `registered but missing from ROUTES in src/http/route-table.ts: ${undocumented.join(', ')}`).to.deep.equal([]);
    expect(stale, `in ROUTES (src/http/route-table.ts) but not registered: ${stale.join(', ')}`).to.deep.equal([]);
  });

  it('every registered route has a "## METHOD /path" heading in api.md', () => {
    const headings = new Set(
      [...readFileSync(API_MD, 'utf8').matchAll(/^#{2,3}\s+`?(GET|POST|PUT|PATCH|DELETE)\s+([^\s`]+)`?/gm)].map(
        (m) => `${m[1]} ${m[2].replace(/:(\w+)/g, '{$1}')}`,
      ),
    );
    const missing = registeredRoutes(t.app).filter((r) => !headings.has(r));
    expect(missing, `api.md has no "## METHOD /path" heading for: ${missing.join(', ')}`).to.deep.equal([]);
  });

  it('takes request bodies and query parameters from the ajv schemas the routes validate with', () => {
    const create = doc.paths['/api/v1/campaigns'].post;
    expect(create.requestBody.content['application/json'].schema).to.deep.equal(toOpenApi(createCampaignSchema));
    expect(create.requestBody.content['application/json'].schema.properties.start_time.type, "ajv's nullable as 2020-12").to.deep.equal(['string', 'null']);
    expect(doc.components.schemas.Impression.required).to.deep.equal(['campaign_id', 'user_id', 'ad_id']);
    const list = doc.paths['/api/v1/campaigns'].get.parameters.filter((p: any) => p.in === 'query');
    expect(list.map((p: any) => p.name)).to.deep.equal(['limit', 'cursor', 'q', 'include']);
    expect(list[0].schema).to.deep.equal({ type: 'string', pattern: '^(?:[1-9][0-9]{0,2}|1000)$' });
    const events = doc.paths['/debug/events'].get.parameters.filter((p: any) => p.in === 'query');
    expect(events.map((p: any) => p.name)).to.deep.equal(['actor', 'type', 'redact', 'token']);
  });

  it('declares path parameters and unique operation ids', () => {
    expect(doc.paths['/api/v1/campaigns/{id}/stats'].get.parameters[0]).to.deep.equal({ name: 'id', in: 'path', required: true, schema: { type: 'string' } });
    const ids = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it("declares the bearer security scheme and each route's scope from the table the guard enforces", () => {
    expect(doc.components.securitySchemes.apiKey).to.include({ type: 'http', scheme: 'bearer' });
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const scope = ROUTES.find((r) => r.method === method && r.path === path)?.scope;
        expect(scope, `${method} ${path} in the route table`).not.to.equal(undefined);
        expect(op['x-scope'], `${method} ${path}`).to.equal(scope);
        expect(op.security, `${method} ${path}`).to.deep.equal(scope === 'public' ? [] : [{ apiKey: [scope] }]);
      }
    }
    expect(doc.paths['/api/v1/impressions'].post['x-scope']).to.equal('write');
    expect(doc.paths['/healthz'].get.security).to.deep.equal([]);
  });

  it('resolves every $ref', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).to.be.greaterThan(5);
    for (const ref of refs) {
      const target = ref.split('/').reduce<any>((node, key) => node?.[key], doc);
      expect(target, ref).not.to.equal(undefined);
    }
  });

  describe('its response schemas match what the service answers', () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    const check = (schema: string, value: unknown): void => {
      const validate = ajv.getSchema(`openapi#/components/schemas/${schema}`)!;
      expect(validate(value), `${schema}: ${JSON.stringify(validate.errors)} for ${JSON.stringify(value)}`).to.equal(true);
    };
    before(() => {
      ajv.addSchema(doc, 'openapi');
    });

    it('campaigns, stats and impressions', async () => {
      const created = await t.request('POST', `${API}/campaigns`, { name: 'doc', start_time: '2000-01-01T00:00:00Z' });
      check('CreatedCampaign', created.body);
      check('Campaign', (await t.request('GET', `${API}/campaigns/${created.body.id}`)).body);
      check('CampaignPage', (await t.request('GET', `${API}/campaigns?limit=1`)).body);
      check('CampaignPage', (await t.request('GET', `${API}/campaigns?limit=1&include=figures`)).body);
      check('Stats', (await t.request('GET', `${API}/campaigns/${created.body.id}/stats`)).body);
      check('ImpressionResult', (await postImpression(t, impression(created.body.id, 'u1'))).body);
      check('BatchResult', (await postImpression(t, [impression(created.body.id, 'u1'), impression('missing', 'u2'), {}])).body);
    });

    it('errors, readiness and the actor tree', async () => {
      check('Error', (await t.request('GET', `${API}/campaigns/missing`)).body);
      check('Error', (await t.request('POST', `${API}/campaigns`, '{', { 'content-type': 'application/json' })).body);
      await createCampaign(t);
      check('ActorTree', (await t.request('GET', '/debug/actors')).body);
    });
  });
});
