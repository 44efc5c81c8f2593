import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import sinon from 'sinon';
import { beaconPath, canonical, signature, verifyBeacon, type BeaconFields } from '../../../src/http/beacons.js';
import { Metrics } from '../../../src/metrics.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, createCampaign, expectError, stats } from '../../helpers/http.js';

const SECRET = 'beacon-spec-secret-0123456789abcdefghij';
const API_MD = new URL('../../../api.md', import.meta.url);
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

describe('signed beacons', () => {
  it("api.md's test vector verifies", () => {
    const text = readFileSync(API_MD, 'utf8');
    const secret = /^secret: (\S+)$/m.exec(text)?.[1];
    const signed = /^signed: (\S+)$/m.exec(text)?.[1];
    const s = /^s:\s+(\S+)$/m.exec(text)?.[1];
    expect(secret && signed && s, 'the vector block in api.md').to.be.a('string');
    const fields = verifyBeacon(secret!, `${signed}&s=${s}`, 0);
    expect(fields).to.be.an('object');
    expect(canonical(fields as BeaconFields)).to.equal(signed);
    expect(signature(secret!, fields as BeaconFields)).to.equal(s);
    expect(fields).to.deep.include({ type: 'impression', userId: 'user 42/é', adId: 'banner-7', expiresAt: 1798761600000 });
  });

  describe('over HTTP', () => {
    let t: TestApp;
    let metrics: Metrics;
    let campaign: string;
    beforeEach(async () => {
      t = await startTestApp({
        deps: (_system, counter) => {
          metrics = new Metrics({ source: counter.campaigns, processMetrics: false });
          return { beaconSecret: SECRET, metrics, trustProxy: true };
        },
      });
      campaign = await createCampaign(t);
    });
    afterEach(async () => {
      sinon.restore();
      await t.close();
    });

    const fields = (over: Partial<BeaconFields> = {}): BeaconFields => ({ type: 'impression', campaignId: campaign, adId: 'ad-1', userId: 'user-1', expiresAt: Date.now() + 60_000, ...over });
    /** Fired as a browser beyond loopback would, without any key. */
    const fire = (path: string, headers: Record<string, string> = {}) => t.request('GET', path, undefined, { 'x-forwarded-for': '198.51.100.4', ...headers });

    it('POST /beacons gives a URL that a browser beyond loopback fires with no key: 204, counted once; fired again it is a duplicate', async () => {
      const made = await t.request('POST', `${API}/beacons`, { type: 'impression', campaign_id: campaign, ad_id: 'ad-1', user_id: 'viewer' });
      expect(made.status).to.equal(201);
      const url = new URL(made.body.url);
      expect(url.pathname).to.equal(`${API}/beacon`);
      const first = await fire(url.pathname + url.search);
      expect(first.status).to.equal(204);
      expect(first.headers.get('x-beacon-outcome')).to.equal('counted');
      expect(first.headers.get('cache-control')).to.equal('no-store');
      expect(first.headers.get('access-control-allow-origin')).to.equal('*');
      const again = await fire(url.pathname + url.search);
      expect(again.status).to.equal(204);
      expect(again.headers.get('x-beacon-outcome')).to.equal('duplicate');
      expect((await stats(t, campaign)).total).to.equal(1);
    });

    it("takes an ad server's cache-buster `cb` unsigned and ignores it; any other parameter it does not take is a 400", async () => {
      const path = beaconPath(SECRET, fields());
      const busted = await fire(`${path}&cb=1733472000123`);
      expect(busted.status).to.equal(204);
      expect(busted.headers.get('x-beacon-outcome')).to.equal('counted');
      const other = await fire(`${path}&cachebust=1`);
      expectError(other, 400, 'unknown query "cachebust"');
      expect((await stats(t, campaign)).total).to.equal(1);
    });

    it('a beacon fired again with its id answers its first outcome with Idempotent-Replayed: true, impressions and clicks alike', async () => {
      const impression = beaconPath(SECRET, fields({ impressionId: 'imp-replay' }));
      const first = await fire(impression);
      expect(first.headers.get('x-beacon-outcome')).to.equal('counted');
      expect(first.headers.get('idempotent-replayed')).to.equal(null);
      const again = await fire(impression);
      expect(again.status).to.equal(204);
      expect(again.headers.get('x-beacon-outcome')).to.equal('counted');
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect((await stats(t, campaign)).total).to.equal(1);

      const click = beaconPath(SECRET, fields({ type: 'click', impressionId: 'click-replay' }));
      const clicked = await fire(click);
      expect(clicked.headers.get('x-beacon-outcome')).to.equal('counted');
      expect(clicked.headers.get('idempotent-replayed')).to.equal(null);
      const clickedAgain = await fire(click);
      expect(clickedAgain.headers.get('x-beacon-outcome')).to.equal('counted');
      expect(clickedAgain.headers.get('idempotent-replayed')).to.equal('true');
    });

    it('refuses every signed field altered, removed or repeated (403), and counts the refusals by reason', async () => {
      const good = beaconPath(SECRET, fields({ impressionId: 'imp-1' }));
      const tampered: Record<string, string> = {
        v: good.replace('v=1', 'v=2'),
        t: good.replace('t=impression', 't=click'),
        c: good.replace(`c=${campaign}`, `c=${campaign}x`),
        a: good.replace('a=ad-1', 'a=ad-2'),
        u: good.replace('u=user-1', 'u=user-2'),
        e: good.replace(/e=(\d+)/, (_m, e: string) => `e=${Number(e) + 1}`),
        i: good.replace('i=imp-1', 'i=imp-2'),
        s: good.replace(/s=(.)/, (_m, c: string) => `s=${c === 'A' ? 'B' : 'A'}`),
        'u removed': good.replace('&u=user-1', ''),
        'i removed': good.replace('&i=imp-1', ''),
        'r added': `${good}&r=${encodeURIComponent('https://evil.example/')}`,
        'u repeated': `${good}&u=user-1`,
      };
      for (const [what, path] of Object.entries(tampered)) {
        const res = await fire(path);
        expect(res.status, what).to.equal(403);
        expectError(res, 403, 'not validly signed');
      }
      expect((await fire(good)).status, 'the untouched beacon').to.equal(204);
      const scrape = (await metrics.scrape()).text;
      expect(scrape).to.match(/impression_counter_beacons_refused_total\{reason="bad_signature"\} (\d+)/);
      const count = (reason: string) => Number(new RegExp(`impression_counter_beacons_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(scrape)?.[1]);
      expect(count('bad_signature') + count('malformed')).to.equal(Object.keys(tampered).length);
      expect((await stats(t, campaign)).total).to.equal(1);
    });

    it('is accepted at exp − 1 ms and refused from exp on (fake Date)', async () => {
      const expiresAt = Date.UTC(2030, 0, 1);
      const clock = sinon.useFakeTimers({ now: expiresAt - 1, toFake: ['Date'] });
      const path = beaconPath(SECRET, fields({ expiresAt }));
      expect((await fire(path)).status).to.equal(204);
      clock.setSystemTime(expiresAt);
      expectError(await fire(path), 403, 'expired');
      expect((await metrics.scrape()).text).to.include('impression_counter_beacons_refused_total{reason="expired"} 1');
    });

    it('answers a 43-byte transparent GIF with format=gif, and works as navigator.sendBeacon (POST text/plain)', async () => {
      const gif = await fetch(`${t.baseUrl}${beaconPath(SECRET, fields())}&format=gif`);
      expect(gif.status).to.equal(200);
      expect(gif.headers.get('content-type')).to.equal('image/gif');
      const bytes = Buffer.from(await gif.arrayBuffer());
      expect(bytes.length).to.equal(43);
      expect(bytes.subarray(0, 6).toString()).to.equal('GIF89a');
      const sent = await t.request('POST', beaconPath(SECRET, fields({ userId: 'user-2' })), 'ping', { 'content-type': 'text/plain;charset=UTF-8' });
      expect(sent.status).to.equal(204);
      expect((await stats(t, campaign)).total).to.equal(2);
    });

    it('judges bots by the browser User-Agent, like POST /impressions', async () => {
      const res = await fire(beaconPath(SECRET, fields()), { 'user-agent': GOOGLEBOT });
      expect(res.headers.get('x-beacon-outcome')).to.equal('bot_filtered');
      expect((await stats(t, campaign)).total).to.equal(0);
    });

    it('a click beacon with a redirect counts the click and answers 302 to the signed target; redirect is for clicks only', async () => {
      const made = await t.request('POST', `${API}/beacons`, { type: 'click', campaign_id: campaign, ad_id: 'ad-1', user_id: 'u', redirect: 'https://shop.example/spring?ref=ad' });
      const url = new URL(made.body.url);
      const res = await fetch(`${t.baseUrl}${url.pathname}${url.search}`, { redirect: 'manual' });
      expect(res.status).to.equal(302);
      expect(res.headers.get('location')).to.equal('https://shop.example/spring?ref=ad');
      expect(res.headers.get('x-beacon-outcome')).to.equal('counted');
      expectError(await t.request('POST', `${API}/beacons`, { type: 'impression', campaign_id: campaign, ad_id: 'a', user_id: 'u', redirect: 'https://x.example/' }), 400, 'redirect');
      expectError(await t.request('POST', `${API}/beacons`, { type: 'click', campaign_id: campaign, ad_id: 'a', user_id: 'u', redirect: 'javascript:alert(1)' }), 400, 'redirect');
    });

    it('answers an unknown campaign 404 like POST /impressions', async () => {
      expectError(await fire(beaconPath(SECRET, fields({ campaignId: 'no-such-campaign' }))), 404, 'not found');
    });
  });
});
