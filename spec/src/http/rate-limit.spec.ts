import { expect } from 'chai';
import sinon from 'sinon';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { beaconPath } from '../../../src/http/beacons.js';
import { parseRate, RateLimits, type RateLimitConfig } from '../../../src/http/rate-limit.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, LONG_AGO, createCampaign, expectError } from '../../helpers/http.js';
import { useRedisServer } from '../../helpers/redis.js';

const ADMIN_KEY = 'rate-limit-admin-key-0123456789abcdefgh';
const SECRET = 'rate-limit-beacon-secret-0123456789abcd';
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

describe('rate limits', () => {
  it('parses N/s, N/m, N/h, N/d and off', () => {
    expect(parseRate('100/s')).to.deep.equal({ points: 100, seconds: 1 });
    expect(parseRate('5/m')).to.deep.equal({ points: 5, seconds: 60 });
    expect(parseRate('1000/h')).to.deep.equal({ points: 1000, seconds: 3600 });
    expect(parseRate('off')).to.equal(null);
    for (const bad of ['0/s', '10', '10/w', '010/s', '-1/s']) expect(parseRate(bad), bad).to.equal(undefined);
  });

  describe('over HTTP (fake Date)', () => {
    let t: TestApp;
    let clock: sinon.SinonFakeTimers;
    const keys: Record<string, string> = {};
    const start = async (config: RateLimitConfig) => {
      const ring = new KeyRing(new MemoryKeyStore(), ADMIN_KEY);
      keys.read = (await ring.create({ scopes: ['read'] }, 0)).key;
      keys.write = (await ring.create({ scopes: ['write'] }, 0)).key;
      t = await startTestApp({ deps: () => ({ keys: ring, rateLimits: new RateLimits(config), beaconSecret: SECRET, trustProxy: true }) });
    };
    const as = (who: string) => ({ authorization: `Bearer ${keys[who] ?? ADMIN_KEY}` });
    beforeEach(() => {
      clock = sinon.useFakeTimers({ now: NOW, toFake: ['Date'] });
    });
    afterEach(async () => {
      clock.restore();
      await t?.close();
    });

    it('limits each key per window by its scope: 429 with Retry-After and RateLimit fields, and again at the next window, not 1 ms before', async () => {
      await start({ read: { points: 10, seconds: 1 } });
      const path = `${API}/campaigns`;
      const seen: (string | null)[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await t.request('GET', path, undefined, as('read'));
        expect(res.status).to.equal(200);
        seen.push(res.headers.get('ratelimit'));
      }
      // The fields come once a tenth of the allowance or less is left.
      expect(seen).to.deep.equal([...Array<null>(8).fill(null), '"read";r=1;t=1', '"read";r=0;t=1']);
      const over = await t.request('GET', path, undefined, as('read'));
      expectError(over, 429, 'rate limit');
      expect(over.headers.get('retry-after')).to.equal('1');
      expect(over.headers.get('ratelimit')).to.equal('"read";r=0;t=1');
      expect(over.headers.get('ratelimit-policy')).to.equal('"read";q=10;w=1');
      expect((await t.request('GET', path, undefined, as('admin'))).status, 'another key has its own allowance').to.equal(200);
      clock.tick(999);
      expectError(await t.request('GET', path, undefined, as('read')), 429);
      clock.tick(1);
      expect((await t.request('GET', path, undefined, as('read'))).status).to.equal(200);
    });

    it('limits the ingest fast lane like any write route', async () => {
      await start({ write: { points: 2, seconds: 60 } });
      const body = { campaign_id: 'nope', user_id: 'u', ad_id: 'a' };
      for (let i = 0; i < 2; i++) expect((await t.request('POST', `${API}/impressions`, body, as('write'))).status).to.equal(404);
      const over = await t.request('POST', `${API}/impressions`, body, as('write'));
      expectError(over, 429, 'write');
      expect(over.headers.get('retry-after')).to.equal('60');
    });

    it('limits campaigns created per key, beside the admin limit', async () => {
      await start({ campaigns: { points: 2, seconds: 3600 } });
      const create = () => t.request('POST', `${API}/campaigns`, { name: 'c', start_time: LONG_AGO }, as('admin'));
      expect((await create()).status).to.equal(201);
      expect((await create()).status).to.equal(201);
      const over = await create();
      expectError(over, 429, 'campaigns created');
      expect(over.headers.get('retry-after')).to.equal('3600');
      expect((await t.request('GET', `${API}/campaigns`, undefined, as('admin'))).status).to.equal(200);
    });

    it('limits keyless beacons per client address', async () => {
      await start({ address: { points: 2, seconds: 1 } });
      const campaign = await createCampaign({ ...t, request: (m, p, b, h) => t.request(m, p, b, { ...as('admin'), ...h }) });
      const fire = (user: string, address: string) =>
        t.request('GET', beaconPath(SECRET, { type: 'impression', campaignId: campaign, adId: 'a', userId: user, expiresAt: NOW + 60_000 }), undefined, { 'x-forwarded-for': address });
      expect((await fire('u1', '198.51.100.1')).status).to.equal(204);
      expect((await fire('u2', '198.51.100.1')).status).to.equal(204);
      expectError(await fire('u3', '198.51.100.1'), 429, 'without a key');
      expect((await fire('u4', '198.51.100.2')).status, 'another address').to.equal(204);
      clock.tick(1000);
      expect((await fire('u5', '198.51.100.1')).status).to.equal(204);
    });

    it('does not limit loopback callers acting as admin under the protected default', async () => {
      t = await startTestApp({ deps: () => ({ rateLimits: new RateLimits({ admin: { points: 1, seconds: 60 }, read: { points: 1, seconds: 60 } }) }) });
      for (let i = 0; i < 3; i++) expect((await t.request('GET', `${API}/campaigns`)).status).to.equal(200);
    });
  });

  describe('across two nodes (STORE=redis)', () => {
    const { connect } = useRedisServer();

    it('one allowance for a key whichever node it calls', async () => {
      const node = () => new RateLimits({ write: { points: 3, seconds: 3600 } }, connect());
      const a = node();
      const b = node();
      await a.take('write', 'key-1');
      await b.take('write', 'key-1');
      const third = await a.take('write', 'key-1');
      expect(third?.RateLimit).to.equal('"write";r=0;t=3600');
      let status = 0;
      await b.take('write', 'key-1').catch((err: { status: number }) => (status = err.status));
      expect(status).to.equal(429);
      for (let i = 0; i < 3; i++) await b.take('write', 'key-2'); // another key: an allowance of its own
    });
  });
});
