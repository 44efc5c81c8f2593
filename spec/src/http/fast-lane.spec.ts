import { expect } from 'chai';
import sinon from 'sinon';
import { RateLimits } from '../../../src/http/rate-limit.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { startFullApp } from '../../helpers/full-app.js';
import { createCampaign, impression } from '../../helpers/http.js';

const FAST = '/api/v1/impressions';
// The same route with a trailing slash: Koa's router matches it, the fast lane (the bare path only) does not.
const KOA = '/api/v1/impressions/';

describe('ingest fast lane', () => {
  let t: TestApp;
  let campaign: string;
  let notStarted: string;
  beforeEach(async () => {
    t = await startTestApp({ bodyLimitBytes: 4096, batchLimit: 5 });
    campaign = await createCampaign(t, { name: 'lane', start_time: '2020-01-01T00:00:00Z' });
    notStarted = await createCampaign(t, { name: 'later', start_time: '2999-01-01T00:00:00Z' });
  });
  afterEach(async () => {
    sinon.restore();
    await t.close();
  });

  it('answers a plain JSON POST /api/v1/impressions without building a Koa context', async () => {
    const koa = sinon.spy(t.app, 'createContext');
    const res = await t.request('POST', FAST, impression(campaign, 'u1'));
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ message: 'impression counted', counted: true });
    expect(koa.called).to.equal(false);
  });

  it('leaves anything unusual to Koa: another path form, another content type, an encoding', async () => {
    const koa = sinon.spy(t.app, 'createContext');
    await t.request('POST', KOA, impression(campaign, 'u1'));
    await t.request('POST', FAST, 'x', { 'content-type': 'text/plain' });
    await t.request('POST', FAST, impression(campaign, 'u2'), { 'content-encoding': 'gzip' });
    await t.request('GET', FAST);
    expect(koa.callCount).to.equal(4);
  });

  // Each case runs on fresh users through both paths, so outcomes are comparable.
  const cases: [string, (c: string, ns: string, u: string) => { body: unknown; headers?: Record<string, string> }][] = [
    ['a counted impression', (c, _ns, u) => ({ body: impression(c, u) })],
    ['a field too long', (c, _ns, u) => ({ body: { ...impression(c, u), ad_id: 'x'.repeat(257) } })],
    ['an unknown field', (c, _ns, u) => ({ body: { ...impression(c, u), extra: 1 } })],
    ['a body naming __proto__', () => ({ body: '{"__proto__":{"polluted":1},"campaign_id":"x","user_id":"u","ad_id":"a"}' })],
    ['malformed JSON', () => ({ body: '{"campaign_id":' })],
    ['an empty body', () => ({ body: '' , headers: { 'content-type': 'application/json' } })],
    ['an unknown campaign', (_c, _ns, u) => ({ body: impression('missing', u) })],
    ['a campaign not started yet', (_c, ns, u) => ({ body: impression(ns, u) })],
    ['a body over the limit', (c, _ns, u) => ({ body: { ...impression(c, u), ad_id: 'y'.repeat(5000) } })],
    ['an empty batch', () => ({ body: [] })],
    ['a batch over BATCH_LIMIT', (c, _ns, u) => ({ body: Array.from({ length: 6 }, (_, i) => impression(c, `${u}-${i}`)) })],
    ['a mixed batch', (c, ns, u) => ({ body: [impression(c, u), impression(c, u), { bad: 1 }, impression('missing', u), impression(ns, u)] })],
    ['a bot user agent', (c, _ns, u) => ({ body: { ...impression(c, u), user_agent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' } })],
    ['invalid UTF-8 in user_id', (c, _ns, u) => ({ body: utf8With(`{"campaign_id":"${c}","user_id":"${u}`, [0xff], '","ad_id":"a"}') })],
    ['invalid UTF-8 in a batch item', (c, _ns, u) => ({ body: utf8With(`[${JSON.stringify(impression(c, u))},{"campaign_id":"${c}","user_id":"x","ad_id":"`, [0xed, 0xa0, 0x80], '"}]') })],
    ['invalid UTF-8 outside any string', (c, _ns, u) => ({ body: utf8With(JSON.stringify(impression(c, u)), [0xfe], '') })],
    ['a lone high surrogate in ad_id', (c, _ns, u) => ({ body: `{"campaign_id":"${c}","user_id":"${u}","ad_id":"\\ud800"}` })],
    ['a lone low surrogate in user_id', (c, _ns, u) => ({ body: `{"campaign_id":"${c}","user_id":"${u}\\udc00","ad_id":"a"}` })],
    ['a lone surrogate in one batch item', (c, _ns, u) => ({ body: `[${JSON.stringify(impression(c, u))},{"campaign_id":"${c}","user_id":"${u}","ad_id":"a","impression_id":"\\udbff"}]` })],
    ['a surrogate pair (an emoji) in user_id', (c, _ns, u) => ({ body: `{"campaign_id":"${c}","user_id":"${u}\\ud83d\\ude00","ad_id":"a"}` })],
    ['a caller request id', (c, _ns, u) => ({ body: impression(c, u), headers: { 'x-request-id': `req-${u}` } })],
    ['a timestamp beyond the skew', (c, _ns, u) => ({ body: { ...impression(c, u), timestamp: '2000-01-01T00:00:00Z' } })],
    ['a timestamp within the skew', (c, _ns, u) => ({ body: { ...impression(c, u), timestamp: new Date(Date.now() - 60_000).toISOString() } })],
  ];

  for (const [name, build] of cases) {
    it(`answers ${name} exactly as the Koa route does`, async () => {
      const fast = build(campaign, notStarted, 'fast-user');
      const slow = build(campaign, notStarted, 'slow-user');
      const a = await t.request('POST', FAST, fast.body, fast.headers);
      const b = await t.request('POST', KOA, slow.body, slow.headers);
      expect(a.status, JSON.stringify(a.body)).to.equal(b.status);
      expect(normalise(a.body)).to.deep.equal(normalise(b.body));
      expect(a.headers.get('content-type')).to.equal(b.headers.get('content-type'));
      expect(a.headers.get('retry-after')).to.equal(b.headers.get('retry-after'));
      expect(a.headers.get('idempotent-replayed')).to.equal(b.headers.get('idempotent-replayed'));
      expect(a.headers.get('x-request-id')).to.be.a('string');
      if (fast.headers?.['x-request-id']) expect(a.headers.get('x-request-id')).to.equal(fast.headers['x-request-id']);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    });
  }

  it('answers a replayed impression_id as the Koa route does: the same body and Idempotent-Replayed: true', async () => {
    const once = { ...impression(campaign, 'r1'), impression_id: 'imp-r1' };
    await t.request('POST', FAST, once);
    const a = await t.request('POST', FAST, once);
    const b = await t.request('POST', KOA, once);
    expect(a.body).to.deep.equal(b.body).and.to.include({ counted: true, replayed: true });
    expect(a.headers.get('idempotent-replayed')).to.equal('true');
    expect(b.headers.get('idempotent-replayed')).to.equal('true');
  });

  it('counts its requests in the same metric series as the Koa route', async () => {
    await t.request('POST', FAST, impression(campaign, 'm1'));
    await t.request('POST', FAST, impression('missing', 'm1'));
    const text = (await t.request('GET', '/metrics')).body as string;
    expect(text).to.match(/impression_counter_http_requests_total\{method="POST",route="\/api\/v1\/impressions",status="200"\} [1-9]/);
    expect(text).to.match(/impression_counter_http_requests_total\{method="POST",route="\/api\/v1\/impressions",status="404"\} [1-9]/);
  });
});

/** A JSON text with raw `bytes` (not valid UTF-8) between `before` and `after`. */
function utf8With(before: string, bytes: number[], after: string): Buffer {
  return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
}

/** Messages name the user in neither path, but JSON parse errors quote the input: strip user names
 * (of equal length, so that byte offsets in messages agree). */
function normalise(body: unknown): unknown {
  return JSON.parse(JSON.stringify(body).replaceAll('fast-user', 'USER').replaceAll('slow-user', 'USER'));
}

describe('ingest fast lane, with keys and rate limits', () => {
  it('answers a replay with the rate-limit headers and Idempotent-Replayed: true, as the Koa route does', async () => {
    // The headers come with the last tenth of the allowance: 10 requests spend 10 of 12 points.
    const t = await startFullApp({ deps: () => ({ rateLimits: new RateLimits({ write: { points: 12, seconds: 60 } }) }) });
    try {
      const c = await createCampaign(t);
      const once = { ...impression(c, 'r1'), impression_id: 'imp-r1' };
      for (let i = 0; i < 10; i++) expect((await t.request('POST', FAST, once)).headers.get('ratelimit')).to.equal(null);
      const answers = [await t.request('POST', FAST, once), await t.request('POST', KOA, once)];
      for (const res of answers) {
        expect(res.body).to.include({ replayed: true });
        expect(res.headers.get('idempotent-replayed')).to.equal('true');
        expect(res.headers.get('ratelimit')).to.be.a('string');
        expect(res.headers.get('ratelimit-policy')).to.be.a('string');
      }
    } finally {
      await t.close();
    }
  });
});
