import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { clientAddress } from '../../../src/http/auth.js';
import { RateLimits } from '../../../src/http/rate-limit.js';
import { Metrics } from '../../../src/metrics.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, LONG_AGO, expectError, rawRequest } from '../../helpers/http.js';

/** A client beyond loopback, as the app sees it through a trusted proxy (TRUST_PROXY=on). */
const REMOTE = { 'x-forwarded-for': '203.0.113.9' };
const campaign = { name: 'c', start_time: LONG_AGO };

function req(remoteAddress: string, forwarded?: string): IncomingMessage {
  return { socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } } as unknown as IncomingMessage;
}

describe('auth: the protected default', () => {
  let t: TestApp | undefined;
  afterEach(() => t?.close());

  it('with no key at all: serves loopback, answers any other client 401 saying how to configure keys', async () => {
    t = await startTestApp({ deps: () => ({ trustProxy: true }) });
    expect((await t.request('POST', `${API}/campaigns`, campaign)).status).to.equal(201);
    const refused = await t.request('POST', `${API}/campaigns`, campaign, REMOTE);
    expectError(refused, 401, 'ADMIN_KEY', 'POST /api/v1/keys', 'AUTH=off');
    expect(refused.headers.get('www-authenticate')).to.match(/^Bearer /);
    // The ingest fast lane (plain JSON POST /impressions) is guarded the same way.
    expectError(await t.request('POST', `${API}/impressions`, { campaign_id: 'x', user_id: 'u', ad_id: 'a' }, REMOTE), 401, 'ADMIN_KEY');
    expectError(await t.request('GET', `${API}/campaigns`, undefined, REMOTE), 401);
    expectError(await t.request('GET', '/metrics', undefined, REMOTE), 401);
    expectError(await t.request('GET', `${API}/no-such-route`, undefined, REMOTE), 401);
  });

  it('keeps /healthz, /readyz and the OpenAPI document open to everyone', async () => {
    t = await startTestApp({ deps: () => ({ trustProxy: true }) });
    for (const path of ['/healthz', '/readyz', `${API}/openapi.json`]) expect((await t.request('GET', path, undefined, REMOTE)).status, path).to.equal(200);
  });

  it('does not trust a loopback peer that forwards another client (a proxy on this machine) unless TRUST_PROXY names loopback', async () => {
    t = await startTestApp();
    expectError(await t.request('POST', `${API}/campaigns`, campaign, REMOTE), 401);
    await t.close();
    t = await startTestApp({ deps: () => ({ trustProxy: true }) });
    expect((await t.request('POST', `${API}/campaigns`, campaign, { 'x-forwarded-for': '127.0.0.1' })).status).to.equal(201);
  });

  it('with keys created but no ADMIN_KEY: other clients need one of them; loopback stays admin', async () => {
    const keys = new KeyRing(new MemoryKeyStore());
    t = await startTestApp({ deps: () => ({ keys, trustProxy: true }) });
    const created = await t.request('POST', `${API}/keys`, { scopes: ['admin'] });
    expect(created.status).to.equal(201);
    expectError(await t.request('POST', `${API}/campaigns`, campaign, REMOTE), 401, 'Authorization: Bearer');
    expect((await t.request('POST', `${API}/campaigns`, campaign, { ...REMOTE, authorization: `Bearer ${created.body.key}` })).status).to.equal(201);
    expect((await t.request('POST', `${API}/campaigns`, campaign)).status).to.equal(201);
  });

  it('with ADMIN_KEY: loopback is no longer trusted without a key', async () => {
    const key = 'root-key-for-the-default-spec-0123456789';
    t = await startTestApp({ deps: () => ({ keys: new KeyRing(new MemoryKeyStore(), key) }) });
    expectError(await t.request('POST', `${API}/campaigns`, campaign), 401, 'API key is required');
    expect((await t.request('POST', `${API}/campaigns`, campaign, { authorization: `Bearer ${key}` })).status).to.equal(201);
    expectError(await t.request('POST', `${API}/campaigns`, campaign, { authorization: `Bearer ${key}x` }), 401, 'not valid');
    expectError(await t.request('POST', `${API}/campaigns`, campaign, { authorization: `Basic ${key}` }), 401, 'Bearer');
  });

  it('refuses an expired key on every path (the guard and the ingest fast lane), and only from its expires_at on', async () => {
    const root = 'root-key-for-the-expiry-spec-0123456789';
    let now = Date.now();
    const keys = new KeyRing(new MemoryKeyStore(), root, () => now);
    t = await startTestApp({ deps: () => ({ keys }) });
    const admin = { authorization: `Bearer ${root}` };
    const ends = new Date(now + 60_000);
    const created = await t.request('POST', `${API}/keys`, { scopes: ['read', 'write'], expires_at: ends.toISOString() }, admin);
    expect(created.status).to.equal(201);
    expect(created.body.expires_at).to.equal(ends.toISOString());
    const as = { authorization: `Bearer ${created.body.key as string}` };
    const one = { campaign_id: 'none', user_id: 'u', ad_id: 'a' };
    now = ends.getTime() - 1;
    expect((await t.request('GET', `${API}/campaigns`, undefined, as)).status, 'a millisecond before').to.equal(200);
    expect((await t.request('POST', `${API}/impressions`, one, as)).status).to.equal(404);
    now = ends.getTime();
    expectError(await t.request('GET', `${API}/campaigns`, undefined, as), 401, 'expired');
    expectError(await t.request('POST', `${API}/impressions`, one, as), 401, 'expired');
    for (const bad of [new Date(Date.now() - 1000).toISOString(), new Date(Date.now() + 400 * 86_400_000).toISOString(), 'tomorrow']) {
      expectError(await t.request('POST', `${API}/keys`, { scopes: ['read'], expires_at: bad }, admin), 400, 'expires_at');
    }
  });

  it('AUTH=off serves every client', async () => {
    t = await startTestApp({ deps: () => ({ authOff: true, trustProxy: true }) });
    expect((await t.request('POST', `${API}/campaigns`, campaign, REMOTE)).status).to.equal(201);
  });

  it('answers the API with nosniff and no-store, on the Koa path and the fast lane alike', async () => {
    t = await startTestApp();
    for (const res of [await t.request('GET', `${API}/campaigns`), await t.request('POST', `${API}/impressions`, { campaign_id: 'x', user_id: 'u', ad_id: 'a' })]) {
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('cache-control')).to.equal('no-store');
    }
    const koa = await rawRequest(t.baseUrl, { method: 'POST', path: `${API}/impressions`, headers: { 'content-type': 'application/json', 'content-encoding': 'identity', 'x-forwarded-for': '203.0.113.9' }, body: '{}' });
    expect(koa.headers.get('x-content-type-options')).to.equal('nosniff');
  });

  it('counts refusals by reason and 429s by limit and key id in /metrics, never showing a secret', async () => {
    const keys = new KeyRing(new MemoryKeyStore(), 'root-key-for-the-metrics-spec-0123456789');
    const read = await keys.create({ scopes: ['read'] }, 0);
    let metrics: Metrics | undefined;
    t = await startTestApp({
      deps: (_system, counter) => {
        metrics = new Metrics({ source: counter.campaigns, processMetrics: false });
        return { keys, metrics, rateLimits: new RateLimits({ read: { points: 1, seconds: 3600 } }) };
      },
    });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    await t.request('GET', `${API}/campaigns`);
    await t.request('GET', `${API}/campaigns`, undefined, as(`${read.key}x`));
    await t.request('POST', `${API}/impressions`, { campaign_id: 'c', user_id: 'u', ad_id: 'a' }, as(read.key));
    await t.request('GET', `${API}/campaigns`, undefined, as(read.key));
    await t.request('GET', `${API}/campaigns`, undefined, as(read.key));
    const text = (await metrics!.scrape()).text;
    expect(text).to.include('impression_counter_auth_refused_total{reason="missing"} 1');
    expect(text).to.include('impression_counter_auth_refused_total{reason="unknown"} 1');
    expect(text).to.include('impression_counter_auth_refused_total{reason="scope"} 1');
    expect(text).to.include(`impression_counter_rate_limited_total{limit="read",key_id="${read.stored.id}"} 1`);
    expect(text).to.not.include(read.key.slice(21));
  });

  describe('clientAddress', () => {
    it('is the socket peer unless TRUST_PROXY; then the last X-Forwarded-For entry (the one the proxy appended)', () => {
      expect(clientAddress(req('10.0.0.1', '1.2.3.4'), false)).to.equal('10.0.0.1');
      expect(clientAddress(req('10.0.0.1', '6.6.6.6, 1.2.3.4'), true)).to.equal('1.2.3.4');
      expect(clientAddress(req('10.0.0.1'), true)).to.equal('10.0.0.1');
    });
  });
});
