import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import { openApiDocument } from '../../../src/http/openapi.js';
import { beaconPath } from '../../../src/http/beacons.js';
import { isRfc3339 } from '../../../src/http/validate.js';
import type { TestApp, TestResponse } from '../../helpers/app.js';
import { FULL_BEACON_SECRET, startFullApp } from '../../helpers/full-app.js';
import { API, LONG_AGO } from '../../helpers/http.js';

type Schema = Record<string, any>;
const doc = openApiDocument() as Schema;

/** The one ajv instance: the document is added once and each response schema is compiled once, by its JSON pointer. */
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addFormat('date-time', { type: 'string', validate: isRfc3339 });
ajv.addFormat('uri', { type: 'string', validate: (text: string) => URL.canParse(text) });
ajv.addSchema(doc, 'openapi');

const pointer = (...segments: string[]): string => segments.map((s) => encodeURIComponent(s.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');

/** The path template of the document that a request path falls under. */
function templateOf(path: string): string | undefined {
  const plain = path.split('?')[0];
  return Object.keys(doc.paths as object).find((template) => new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}/?$`).test(plain));
}

/** Checks one live answer against the document: a declared status, a declared content type, and a body that fits the schema. */
function conforms(method: string, path: string, res: TestResponse, text: string): void {
  const where = `${method} ${path} → ${res.status} ${text.slice(0, 200)}`;
  const template = templateOf(path);
  expect(template, `${where}: no path of the document`).not.to.equal(undefined);
  const item = doc.paths[template as string] as Record<string, Schema>;
  // A 405 answers a method the path does not take: any operation of the path declares it.
  const op = item[method.toLowerCase()] ?? (res.status === 405 || res.status === 501 ? Object.values(item)[0] : undefined);
  expect(op, `${where}: no such operation`).not.to.equal(undefined);
  const answer = (op as Schema).responses[String(res.status)] as Schema | undefined;
  expect(answer, `${where}: status not declared (declared: ${Object.keys((op as Schema).responses).join(', ')})`).not.to.equal(undefined);
  const type = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  if (answer!.content === undefined) {
    expect(text, `${where}: declares no body`).to.equal('');
    return;
  }
  expect(Object.keys(answer!.content as object), `${where}: content type`).to.include(type);
  if (type !== 'application/json') return;
  const method_ = (op === item[method.toLowerCase()] ? method : Object.keys(item)[0]).toLowerCase();
  const validate = ajv.getSchema(`openapi#/${pointer('paths', template as string, method_, 'responses', String(res.status), 'content', 'application/json', 'schema')}`);
  expect(validate, `${where}: schema`).not.to.equal(undefined);
  expect(validate!(JSON.parse(text)), `${where}: ${ajv.errorsText(validate!.errors)}`).to.equal(true);
}

describe('live answers against the OpenAPI document', () => {
  let t: TestApp;
  let checked = 0;
  const statuses = new Set<string>();
  /** Sends a request and holds its answer to the document. */
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${KEY}`, ...headers }, redirect: 'manual' };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(t.baseUrl + path, init);
    const text = await res.text();
    conforms(method, path, { status: res.status, headers: res.headers, body: undefined }, text);
    checked++;
    statuses.add(`${res.status} ${(res.headers.get('content-type') ?? '').split(';')[0]}`);
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // CSV, HTML, a GIF
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }
  const KEY = 'full-app-admin-key-0123456789abcdefghij';

  before(async () => {
    t = await startFullApp({ clickTtlMs: 600_000, batchLimit: 3, bodyLimitBytes: 2048 });
  });
  after(() => t.close());

  it('every object schema in the document lists its required fields', () => {
    const lacking: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      if (node === null || typeof node !== 'object') return;
      const schema = node as Schema;
      if (schema.properties !== undefined && typeof schema.properties === 'object' && !at.endsWith('/properties') && schema.in === undefined && !/\/(requestBody|parameters)\b/.test(at) && !Array.isArray(schema.required)) lacking.push(at);
      for (const [k, v] of Object.entries(schema)) walk(v, `${at}/${k}`);
    };
    walk(doc.paths, '#/paths');
    walk(doc.components.schemas, '#/components/schemas');
    expect(lacking).to.deep.equal([]);
  });

  it('a tour of the API answers only what the document declares: statuses, content types and bodies', async () => {
    const created = await call('POST', `${API}/campaigns`, { name: 'tour', start_time: LONG_AGO });
    const c = created.body.id as string;
    const later = (await call('POST', `${API}/campaigns`, { name: 'later', start_time: '2999-01-01T00:00:00Z' })).body.id as string;
    await call('POST', `${API}/campaigns`, { name: '' });
    await call('POST', `${API}/campaigns`, 'x'.repeat(3000));
    await call('POST', `${API}/campaigns`, 'name=x', { 'content-type': 'text/plain' });
    await call('GET', `${API}/campaigns?limit=1`);
    await call('GET', `${API}/campaigns?limit=1001`);
    await call('GET', `${API}/campaigns?bogus=1`);
    await call('GET', `${API}/campaigns/${c}`);
    await call('GET', `${API}/campaigns/missing`);
    await call('GET', `${API}/campaigns/${c}/stats`);
    await call('GET', `${API}/campaigns/missing/stats`);
    // Impressions and clicks, single and batch, every outcome.
    const imp = (user: string, extra: object = {}) => ({ campaign_id: c, user_id: user, ad_id: 'banner', ...extra });
    await call('POST', `${API}/impressions`, imp('u1', { impression_id: 'i1' }));
    await call('POST', `${API}/impressions`, imp('u1', { impression_id: 'i1' }));
    await call('POST', `${API}/impressions`, imp('u1'));
    await call('POST', `${API}/impressions`, imp('u2', { user_agent: 'Googlebot/2.1' }));
    await call('POST', `${API}/impressions/`, imp('u3'));
    await call('POST', `${API}/impressions`, [imp('u4'), imp('u4'), { ...imp('u5'), campaign_id: 'missing' }]);
    await call('POST', `${API}/impressions`, [imp('u6'), imp('u7'), imp('u8'), imp('u9')]);
    await call('POST', `${API}/impressions`, []);
    await call('POST', `${API}/impressions`, { ...imp('u1'), campaign_id: later });
    await call('POST', `${API}/impressions`, { ...imp('u1'), campaign_id: 'missing' });
    await call('POST', `${API}/impressions`, '{', {});
    const click = (extra: object = {}) => ({ campaign_id: c, ad_id: 'banner', user_id: 'u1', ...extra });
    await call('POST', `${API}/clicks`, click({ click_id: 'k1', playback_time: 3 }));
    await call('POST', `${API}/clicks`, click({ click_id: 'k1' }));
    await call('POST', `${API}/clicks`, click());
    await call('POST', `${API}/clicks`, [click({ user_id: 'u2' }), click({ campaign_id: 'missing' }), click({ timestamp: '2000-01-01T00:00:00Z' })]);
    // Ads, analytics and series.
    await call('POST', `${API}/campaigns/${c}/ads`, { id: 'banner', name: 'b', image_url: 'https://x.test/i.png', target_url: 'https://x.test/' });
    await call('POST', `${API}/campaigns/${c}/ads`, { id: 'banner', name: 'b', image_url: 'https://x.test/i.png', target_url: 'https://x.test/' });
    await call('POST', `${API}/campaigns/${c}/ads`, { id: 'banner', name: 'other', image_url: 'https://x.test/i.png', target_url: 'https://x.test/' });
    await call('GET', `${API}/campaigns/${c}/ads/banner`);
    await call('GET', `${API}/campaigns/${c}/ads/nope`);
    await call('GET', `${API}/campaigns/${c}/ads?limit=1`);
    await call('GET', `${API}/ads`);
    await call('GET', `${API}/ads/analytics`);
    await call('GET', `${API}/campaigns/${c}/analytics?group_by=ad`);
    await call('GET', `${API}/campaigns/${c}/analytics?window=2h`);
    await call('GET', `${API}/campaigns/${c}/timeseries?interval=minute`);
    await call('GET', `${API}/campaigns/${c}/timeseries?interval=day&tz=Europe/Berlin`);
    await call('GET', `${API}/campaigns/${c}/timeseries?format=csv`);
    await call('GET', `${API}/campaigns/${c}/timeseries`, undefined, { accept: 'text/csv' });
    await call('GET', `${API}/campaigns/${c}/timeseries?tz=Nowhere`);
    // Keys, beacons, operations and the inspector.
    const key = await call('POST', `${API}/keys`, { scopes: ['read'], name: 'reader' });
    await call('GET', `${API}/keys`);
    await call('GET', `${API}/campaigns`, undefined, { authorization: `Bearer ${key.body.key as string}` });
    await call('POST', `${API}/campaigns`, { name: 'x' }, { authorization: `Bearer ${key.body.key as string}` });
    await call('GET', `${API}/campaigns`, undefined, { authorization: 'Bearer not-a-key-0123456789abcdefghijklmnop' });
    await call('DELETE', `${API}/keys/${key.body.id as string}`);
    await call('DELETE', `${API}/keys/${key.body.id as string}`);
    const beacon = await call('POST', `${API}/beacons`, { type: 'impression', campaign_id: c, ad_id: 'banner', user_id: 'b1' });
    const path = new URL(beacon.body.url as string).pathname + new URL(beacon.body.url as string).search;
    await call('GET', path);
    await call('GET', `${path}&format=gif`);
    await call('POST', path, 'ignored', { 'content-type': 'text/plain' });
    await call('GET', `${path.slice(0, -3)}xyz`);
    await call('GET', beaconPath(FULL_BEACON_SECRET, { type: 'click', campaignId: c, adId: 'banner', userId: 'b2', expiresAt: t.counter.analytics.now() + 60_000, redirect: 'https://x.test/' }));
    await call('GET', '/metrics');
    await call('GET', '/healthz');
    await call('GET', '/readyz');
    await call('GET', `${API}/openapi.json`);
    await call('POST', `${API}/admin/redis/accept-reset`);
    await call('GET', '/debug/');
    await call('GET', '/debug/actors');
    await call('GET', '/debug/actors?limit=0');
    // A method a path does not take, and one no path takes.
    await call('GET', `${API}/impressions`);
    await call('PUT', `${API}/campaigns`);
    await call('PROPFIND', `${API}/campaigns`);

    expect(checked).to.be.greaterThan(60);
    for (const status of ['200 application/json', '201 application/json', '204 ', '200 text/csv', '200 image/gif', '302 text/plain', '400 application/json', '401 application/json', '403 application/json', '404 application/json', '405 application/json', '409 application/json', '413 application/json', '415 application/json', '501 application/json']) {
      expect([...statuses].sort(), status).to.include(status);
    }
  });
});
