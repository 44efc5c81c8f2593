import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { pino } from 'pino';
import sinon from 'sinon';
import { systemClock } from '../../../actors/counting/clock.js';
import { startCounterSystem, type CounterSystem } from '../../../actors/system.js';
import { DEFAULT_ANALYTICS_CONFIG, type AnalyticsConfig } from '../../../src/use-cases/analytics.js';
import { createApp } from '../../../src/app.js';
import { Counter } from '../../../src/counter.js';
import { Zone } from '../../../src/calendar.js';
import { ZoneCache } from '../../../src/http/analytics.js';
import { botFilter } from '../../../src/http/bots.js';
import { MAX_BUCKETS } from '../../../src/series.js';
import { API, expectError } from '../../helpers/http.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const BROWSER = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const iso = (t: number) => new Date(t).toISOString();
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

interface App {
  system: CounterSystem;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  close(): Promise<void>;
}

/** The real app with analytics settings of its own, on an ephemeral loopback port. */
async function start(analytics: Partial<AnalyticsConfig> = {}, bots = true): Promise<App> {
  const config = { ...DEFAULT_ANALYTICS_CONFIG, ...analytics };
  const system = startCounterSystem({ clock: systemClock, ttlMs: HOUR, tickMs: 3_600_000, sweepBudget: 65_536, supervision: { maxRestarts: 5, windowMs: MINUTE }, analytics: config });
  const counter = new Counter({ registry: system.registry, clock: systemClock, askTimeoutMs: 1000, analytics: config });
  const app = createApp({ counter, bodyLimitBytes: 1 << 20, batchLimit: 1000, logger: pino({ level: 'silent' }), bots: botFilter(bots) });
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    system,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
      const res = await fetch(base + path, init);
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      system.stop();
    },
  };
}

describe('ads, clicks and analytics API', () => {
  let t: App;
  let clock: sinon.SinonFakeTimers;
  let id: string;
  const T0 = Date.UTC(2026, 2, 10, 10, 0, 30); // 10:00:30 UTC

  const imp = (user: string, ad = 'ad-a', extra: Record<string, unknown> = {}) => ({ campaign_id: id, user_id: user, ad_id: ad, ...extra });
  const click = (ad = 'ad-a', extra: Record<string, unknown> = {}) => ({ campaign_id: id, ad_id: ad, ...extra });
  const analytics = async (query: string) => {
    const res = await t.request('GET', `${API}/campaigns/${id}/analytics?${query}`);
    expect(res.status, res.text).to.equal(200);
    return res.body;
  };

  beforeEach(async () => {
    // Only Date is faked: sockets need the real timers.
    clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
    t = await start({ clickTtlMs: 10 * MINUTE });
    const res = await t.request('POST', `${API}/campaigns`, { name: 'c', start_time: '2026-01-01T00:00:00Z' });
    id = res.body.id;
  });

  afterEach(async () => {
    await t.close();
    clock.restore();
  });

  describe('ads', () => {
    it('registers an ad (201), answers a same retry with 200, other metadata with 409, and lists it per campaign and across campaigns', async () => {
      const ad = { id: 'banner', name: 'Banner', image_url: 'https://cdn.example.com/a.png', target_url: 'https://example.com/landing' };
      const created = await t.request('POST', `${API}/campaigns/${id}/ads`, ad);
      expect(created.status).to.equal(201);
      expect(created.body).to.include({ id: 'banner', campaign_id: id, name: 'Banner', image_url: ad.image_url, target_url: ad.target_url, message: 'ad registered' });
      expect((await t.request('POST', `${API}/campaigns/${id}/ads`, ad)).status).to.equal(200);
      expectError(await t.request('POST', `${API}/campaigns/${id}/ads`, { ...ad, name: 'Other' }), 409, 'other metadata');
      const generated = await t.request('POST', `${API}/campaigns/${id}/ads`, { ...ad, id: undefined });
      expect(generated.status).to.equal(201);
      expect(generated.body.id).to.match(/^[0-9a-f-]{36}$/);

      const list = await t.request('GET', `${API}/campaigns/${id}/ads?limit=1`);
      expect(list.body.ads.map((a: any) => a.id)).to.deep.equal(['banner']);
      const next = await t.request('GET', `${API}/campaigns/${id}/ads?limit=1&cursor=${list.body.next_cursor}`);
      expect(next.body).to.deep.include({ next_cursor: null });
      expect(next.body.ads.map((a: any) => a.id)).to.deep.equal([generated.body.id]);

      const other = (await t.request('POST', `${API}/campaigns`, { name: 'd' })).body.id;
      await t.request('POST', `${API}/campaigns/${other}/ads`, { ...ad, id: 'video' });
      const all = await t.request('GET', `${API}/ads?limit=2`);
      expect(all.body.ads.map((a: any) => [a.campaign_id, a.id])).to.deep.equal([
        [id, 'banner'],
        [id, generated.body.id],
      ]);
      const rest = await t.request('GET', `${API}/ads?limit=2&cursor=${all.body.next_cursor}`);
      expect(rest.body.ads.map((a: any) => [a.campaign_id, a.id])).to.deep.equal([[other, 'video']]);
      expect(rest.body.next_cursor).to.equal(null);
    });

    it('validates URLs (http/https, length-bounded) and answers 404 for an unknown campaign', async () => {
      const ad = { name: 'x', image_url: 'https://cdn.example.com/a.png', target_url: 'https://example.com/' };
      expectError(await t.request('POST', `${API}/campaigns/${id}/ads`, { ...ad, image_url: 'ftp://cdn.example.com/a.png' }), 400, 'image_url', 'http or https URL');
      expectError(await t.request('POST', `${API}/campaigns/${id}/ads`, { ...ad, target_url: 'javascript:alert(1)' }), 400, 'target_url');
      expectError(await t.request('POST', `${API}/campaigns/${id}/ads`, { ...ad, target_url: `https://example.com/${'x'.repeat(2048)}` }), 400, 'target_url', '2048');
      expectError(await t.request('POST', `${API}/campaigns/missing/ads`, ad), 404, 'missing');
      expectError(await t.request('GET', `${API}/campaigns/missing/ads`), 404);
    });
  });

  describe('CTR and playback arithmetic', () => {
    it('divides counted clicks by counted impressions, and averages playback over the clicks that reported it', async () => {
      await t.request('POST', `${API}/impressions`, [imp('u1'), imp('u2'), imp('u3'), imp('u4'), imp('u1'), imp('u5', 'ad-b')]);
      await t.request('POST', `${API}/clicks`, [click('ad-a', { user_id: 'u1', playback_time: 10 }), click('ad-a', { user_id: 'u2', playback_time: 20.5 }), click('ad-b', { user_id: 'u5' })]);
      const a = await analytics('window=1h&group_by=ad');
      expect(a).to.deep.include({ campaign_id: id, window: '1h', impressions: 5, raw_impressions: 6, duplicates: 1, bot_filtered: 0, clicks: 3, unique_users: 5, total_playback_time: 30.5 });
      expect(a.ctr).to.be.closeTo(3 / 5, 1e-12);
      expect(a.avg_playback_time).to.be.closeTo(15.25, 1e-12);
      expect(a.ads).to.deep.equal([
        { ad_id: 'ad-a', impressions: 4, raw_impressions: 5, duplicates: 1, bot_filtered: 0, clicks: 2, duplicate_clicks: 0, ctr: 0.5, unique_users: 4, avg_playback_time: 15.25, total_playback_time: 30.5 },
        { ad_id: 'ad-b', impressions: 1, raw_impressions: 1, duplicates: 0, bot_filtered: 0, clicks: 1, duplicate_clicks: 0, ctr: 1, unique_users: 1, avg_playback_time: 0, total_playback_time: 0 },
      ]);
      clock.tick(MINUTE); // a ranking counts whole minutes, up to the start of the one in progress
      const across = await t.request('GET', `${API}/ads/analytics`);
      expect(across.body.ads[0]).to.deep.equal({ ad_id: 'ad-a', campaigns: 1, clicks: 2, impressions: 4, ctr: 0.5, total_playback_time: 30.5, avg_playback_time: 15.25 });
    });

    it('answers CTR 0 (not NaN) with no impressions, and counts clicks on ads never registered', async () => {
      await t.request('POST', `${API}/clicks`, click('unregistered'));
      const a = await analytics('window=24h');
      expect(a).to.deep.include({ impressions: 0, clicks: 1, ctr: 0, avg_playback_time: 0 });
    });

    it('refuses playback_time below 0 and timestamps beyond CLICK_MAX_SKEW', async () => {
      expectError(await t.request('POST', `${API}/clicks`, click('ad-a', { playback_time: -1 })), 400, 'playback_time');
      expectError(await t.request('POST', `${API}/clicks`, click('ad-a', { timestamp: new Date(T0 - HOUR - 1000).toISOString() })), 400, 'CLICK_MAX_SKEW');
      expectError(await t.request('POST', `${API}/clicks`, click('ad-a', { timestamp: new Date(T0 + HOUR + 1000).toISOString() })), 400, 'later');
      expectError(await t.request('POST', `${API}/clicks`, click('ad-a', { ip_address: '300.1.1.1' })), 400, 'IPv4 or IPv6');
      expect((await t.request('POST', `${API}/clicks`, click('ad-a', { timestamp: new Date(T0 - HOUR).toISOString() }))).body.counted).to.equal(true);
    });
  });

  describe('windows', () => {
    it('keeps an impression in the 1h window through the 59th minute after its own and drops it at the next (both sides)', async () => {
      await t.request('POST', `${API}/impressions`, imp('u1'));
      await t.request('POST', `${API}/clicks`, click());
      clock.setSystemTime(Date.UTC(2026, 2, 10, 10, 59, 59, 999));
      expect(await analytics('window=1h')).to.deep.include({ impressions: 1, clicks: 1 });
      clock.setSystemTime(Date.UTC(2026, 2, 10, 11, 0, 0, 0));
      expect(await analytics('window=1h')).to.deep.include({ impressions: 0, clicks: 0, unique_users: 0 });
      expect(await analytics('window=6h')).to.deep.include({ impressions: 1, clicks: 1 });
    });

    it('reads 7d and 30d from hour buckets: in until the last hour of the window, out at the next', async () => {
      await t.request('POST', `${API}/impressions`, imp('u1'));
      clock.setSystemTime(Date.UTC(2026, 2, 17, 9, 59, 59, 999)); // hour 10:00 on the 10th is the 168th hour back
      // (Its distinct users come from UTC-day sketches: the 7 days from the 11th.)
      expect(await analytics('window=7d')).to.deep.include({ impressions: 1, unique_users: 0 });
      clock.setSystemTime(Date.UTC(2026, 2, 17, 10, 0, 0, 0));
      expect(await analytics('window=7d')).to.deep.include({ impressions: 0 });
      expect(await analytics('window=30d')).to.deep.include({ impressions: 1, unique_users: 1 });
      clock.setSystemTime(Date.UTC(2026, 3, 9, 10, 0, 0, 0));
      expect(await analytics('window=30d')).to.deep.include({ impressions: 0 });
    });

    it('rejects an unknown window or group_by with 400 naming the choices', async () => {
      expectError(await t.request('GET', `${API}/campaigns/${id}/analytics?window=2h`), 400, '1h, 6h, 24h, 7d, 30d');
      expectError(await t.request('GET', `${API}/campaigns/${id}/analytics?group_by=user`), 400, 'group_by');
      expectError(await t.request('GET', `${API}/campaigns/missing/analytics`), 404);
    });
  });

  describe('bot filtering', () => {
    it('does not count impressions or clicks from bot user agents (field, or a browser-like header) and reports them as bot_filtered', async () => {
      const single = await t.request('POST', `${API}/impressions`, imp('crawler', 'ad-a', { user_agent: GOOGLEBOT }));
      expect(single.body).to.deep.equal({ message: 'impression from a bot user agent; not counted', counted: false, bot_filtered: true });
      const header = await t.request('POST', `${API}/impressions`, imp('u2'), { 'user-agent': 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)' });
      expect(header.body.bot_filtered).to.equal(true);
      const batch = await t.request('POST', `${API}/impressions`, [imp('u1', 'ad-a', { user_agent: BROWSER }), imp('u3', 'ad-a', { user_agent: GOOGLEBOT })]);
      expect(batch.body).to.deep.equal({ results: [{ counted: true }, { counted: false, bot_filtered: true }], counted: 1, duplicates: 0, bot_filtered: 1, replayed: 0, rejected: 0 });
      const botClick = await t.request('POST', `${API}/clicks`, click('ad-a', { user_agent: GOOGLEBOT }));
      expect(botClick.body).to.include({ counted: false, bot_filtered: true });
      expect(await analytics('window=1h')).to.deep.include({ impressions: 1, raw_impressions: 1, bot_filtered: 4, clicks: 0, unique_users: 1 });
      // The bot's user id was never entered for dedupe: the same id from a browser counts.
      expect((await t.request('POST', `${API}/impressions`, imp('crawler', 'ad-a', { user_agent: BROWSER }))).body.counted).to.equal(true);
    });

    it("never judges an HTTP library's own User-Agent header (a server forwarding impressions)", async () => {
      for (const agent of ['curl/8.5.0', 'Go-http-client/1.1', 'python-requests/2.31', 'node']) {
        expect((await t.request('POST', `${API}/impressions`, imp(agent), { 'user-agent': agent })).body.counted, agent).to.equal(true);
      }
    });

    it('counts everything with BOT_FILTER=off', async () => {
      const off = await start({}, false);
      try {
        const c = (await off.request('POST', `${API}/campaigns`, { name: 'c', start_time: '2026-01-01T00:00:00Z' })).body.id;
        const res = await off.request('POST', `${API}/impressions`, { campaign_id: c, user_id: 'bot', ad_id: 'a', user_agent: GOOGLEBOT });
        expect(res.body.counted).to.equal(true);
      } finally {
        await off.close();
      }
    });
  });

  describe('click dedupe (CLICK_DEDUP_TTL)', () => {
    it('drops a repeated click of the same user on the same ad within the TTL (at TTL − 1 ms), counts it at the TTL, and keys on the IP without a user', async () => {
      expect((await t.request('POST', `${API}/clicks`, click('ad-a', { user_id: 'u1' }))).body.counted).to.equal(true);
      expect((await t.request('POST', `${API}/clicks`, click('ad-b', { user_id: 'u1' }))).body.counted, 'another ad').to.equal(true);
      clock.tick(10 * MINUTE - 1);
      expect((await t.request('POST', `${API}/clicks`, click('ad-a', { user_id: 'u1' }))).body).to.include({ counted: false, duplicate: true });
      clock.tick(1);
      expect((await t.request('POST', `${API}/clicks`, click('ad-a', { user_id: 'u1' }))).body.counted).to.equal(true);
      const ips = await t.request('POST', `${API}/clicks`, [click('ad-a', { ip_address: '203.0.113.9' }), click('ad-a', { ip_address: '203.0.113.9' }), click('ad-a'), click('ad-a')]);
      expect(ips.body).to.deep.include({ counted: 3, duplicates: 1, bot_filtered: 0, rejected: 0 });
      expect(await analytics('window=1h')).to.deep.include({ clicks: 6, ctr: 0 });
    });

    it('is off by default: every click counts', async () => {
      const plain = await start();
      try {
        const c = (await plain.request('POST', `${API}/campaigns`, { name: 'c', start_time: '2026-01-01T00:00:00Z' })).body.id;
        const res = await plain.request('POST', `${API}/clicks`, [0, 1, 2].map(() => ({ campaign_id: c, ad_id: 'a', user_id: 'u1' })));
        expect(res.body).to.deep.include({ counted: 3, duplicates: 0 });
      } finally {
        await plain.close();
      }
    });

    it('answers clicks for unknown or not-yet-started campaigns like impressions', async () => {
      expectError(await t.request('POST', `${API}/clicks`, { campaign_id: 'missing', ad_id: 'a' }), 404);
      const later = (await t.request('POST', `${API}/campaigns`, { name: 'later', start_time: '2027-01-01T00:00:00Z' })).body.id;
      expectError(await t.request('POST', `${API}/clicks`, { campaign_id: later, ad_id: 'a' }), 409, 'has not started');
    });
  });

  describe('time series', () => {
    it('answers minute buckets with impressions and clicks, as JSON or CSV (format=csv or Accept)', async () => {
      await t.request('POST', `${API}/impressions`, [imp('u1'), imp('u2')]);
      clock.tick(MINUTE);
      await t.request('POST', `${API}/clicks`, click());
      const q = `interval=minute&from=2026-03-10T09:59:00Z&to=2026-03-10T10:02:00Z`;
      const json = await t.request('GET', `${API}/campaigns/${id}/timeseries?${q}`);
      expect(json.body).to.deep.equal({
        campaign_id: id,
        interval: 'minute',
        tz: 'UTC',
        buckets: [
          { start: '2026-03-10T09:59:00.000Z', impressions: 0, clicks: 0 },
          { start: '2026-03-10T10:00:00.000Z', impressions: 2, clicks: 0 },
          { start: '2026-03-10T10:01:00.000Z', impressions: 0, clicks: 1 },
        ],
      });
      const expected = 'start,impressions,clicks\n2026-03-10T09:59:00.000Z,0,0\n2026-03-10T10:00:00.000Z,2,0\n2026-03-10T10:01:00.000Z,0,1\n';
      const csv = await t.request('GET', `${API}/campaigns/${id}/timeseries?${q}&format=csv`);
      expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
      expect(csv.text).to.equal(expected);
      expect((await t.request('GET', `${API}/campaigns/${id}/timeseries?${q}`, undefined, { accept: 'text/csv' })).text).to.equal(expected);
    });

    it('answers day buckets of Europe/Berlin across both DST changes: 2026-03-29 has 23 h, 2026-10-25 has 25 h', async () => {
      for (const [day, hours] of [
        ['2026-03-29', 23],
        ['2026-10-25', 25],
      ] as const) {
        const [y, m, d] = day.split('-').map(Number);
        // Local midnight of the day before, in UTC: Berlin is UTC+1 in March before the change and UTC+2 in October.
        const before = Date.UTC(y, m - 1, d - 1) - (m === 3 ? 1 : 2) * HOUR;
        clock.setSystemTime(before + 30 * MINUTE);
        await t.request('POST', `${API}/impressions`, imp(`${day}-a`)); // on the day before
        const dayStart = Date.UTC(y, m - 1, d) - (m === 3 ? 1 : 2) * HOUR;
        const dayEnd = dayStart + hours * HOUR;
        clock.setSystemTime(dayStart); // the first instant of the DST day
        await t.request('POST', `${API}/impressions`, imp(`${day}-b`));
        clock.setSystemTime(dayEnd - 1); // its last millisecond
        await t.request('POST', `${API}/impressions`, imp(`${day}-c`));
        await t.request('POST', `${API}/clicks`, click());
        clock.setSystemTime(dayEnd); // the next local day
        await t.request('POST', `${API}/impressions`, imp(`${day}-d`));

        const from = encodeURIComponent(new Date(before).toISOString());
        const res = await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=day&tz=Europe/Berlin&from=${from}&to=${encodeURIComponent(new Date(dayEnd + 1).toISOString())}`);
        expect(res.status, res.text).to.equal(200);
        const offset = m === 3 ? ['+01:00', '+01:00', '+02:00'] : ['+02:00', '+02:00', '+01:00'];
        expect(res.body.buckets, day).to.deep.equal([
          { start: `${y}-${String(m).padStart(2, '0')}-${String(d - 1).padStart(2, '0')}T00:00:00.000${offset[0]}`, impressions: 1, clicks: 0 },
          { start: `${day}T00:00:00.000${offset[1]}`, impressions: 2, clicks: 1 },
          { start: `${y}-${String(m).padStart(2, '0')}-${String(d + 1).padStart(2, '0')}T00:00:00.000${offset[2]}`, impressions: 1, clicks: 0 },
        ]);
        // And the hours of the DST day: 23 or 25 local hours.
        const hourly = await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=hour&tz=Europe/Berlin&from=${encodeURIComponent(new Date(dayStart).toISOString())}&to=${encodeURIComponent(new Date(dayEnd).toISOString())}`);
        expect(hourly.body.buckets, `${day} hours`).to.have.length(hours);
        expect(hourly.body.buckets.reduce((n: number, b: any) => n + b.impressions, 0)).to.equal(2);
      }
    });

    it('starts local hours at :30 UTC in Asia/Kolkata (a half-hour zone)', async () => {
      await t.request('POST', `${API}/impressions`, imp('u1')); // 10:00:30Z = 15:30:30 IST, in the local hour from 09:30Z
      const res = await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=hour&tz=Asia/Kolkata&from=2026-03-10T09:00:00Z&to=2026-03-10T11:00:00Z`);
      expect(res.body.buckets).to.deep.equal([
        { start: '2026-03-10T14:00:00.000+05:30', impressions: 0, clicks: 0 },
        { start: '2026-03-10T15:00:00.000+05:30', impressions: 1, clicks: 0 },
        { start: '2026-03-10T16:00:00.000+05:30', impressions: 0, clicks: 0 },
      ]);
    });

    it('refuses minutes older than their retention, an unknown zone, from ≥ to and too many buckets', async () => {
      expectError(await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=minute&from=2026-03-08T00:00:00Z`), 400, 'kept for 2 days');
      expectError(await t.request('GET', `${API}/campaigns/${id}/timeseries?tz=Mars/Olympus`), 400, 'IANA');
      expectError(await t.request('GET', `${API}/campaigns/${id}/timeseries?from=2026-03-10T10:00:00Z&to=2026-03-10T10:00:00Z`), 400, 'before');
      expectError(await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=minute&from=2026-03-09T00:00:00Z&to=2026-03-20T00:00:00Z`), 400, `${MAX_BUCKETS}`);
    });

    it(`spans at most MAX_BUCKETS (${MAX_BUCKETS}) buckets: up to the limit is answered, a millisecond more is a 400`, async () => {
      const from = Date.UTC(2026, 2, 10);
      const series = (to: number) => t.request('GET', `${API}/campaigns/${id}/timeseries?interval=minute&from=${iso(from)}&to=${iso(to)}`);
      const full = await series(from + MAX_BUCKETS * MINUTE);
      expect(full.status, full.text).to.equal(200);
      expect(full.body.buckets).to.have.length(MAX_BUCKETS);
      expectError(await series(from + MAX_BUCKETS * MINUTE + 1), 400, `more than ${MAX_BUCKETS} minute buckets`);
    });

    it('looks the campaign up before planning anything: an unknown one is a 404 with no bucket planned (a malformed query is a 400 first, as on every route)', async () => {
      const planned = sinon.spy(Zone.prototype, 'nextDay');
      try {
        const far = `interval=day&tz=Europe/Berlin&from=1990-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`;
        expectError(await t.request('GET', `${API}/campaigns/nope/timeseries?${far}`), 404, 'not found');
        expectError(await t.request('GET', `${API}/campaigns/nope/timeseries?interval=fortnight`), 400, 'query "interval" must be one of');
        expect(planned.called).to.equal(false);
      } finally {
        planned.restore();
      }
    });

    it('refuses a span over the limit before planning a bucket, and plans those within it', async () => {
      const planned = sinon.spy(Zone.prototype, 'nextDay');
      try {
        const to = Date.UTC(2026, 2, 10);
        const series = (days: number) => t.request('GET', `${API}/campaigns/${id}/timeseries?interval=day&tz=Europe/Berlin&from=${iso(to - days * 86_400_000)}&to=${iso(to)}`);
        expectError(await series(MAX_BUCKETS + 1), 400, `more than ${MAX_BUCKETS} day buckets`);
        expect(planned.called).to.equal(false);
        const within = await series(MAX_BUCKETS - 1);
        expect(within.status, within.text).to.equal(200);
        expect(within.body.buckets.length).to.be.within(MAX_BUCKETS - 1, MAX_BUCKETS + 1);
        expect(planned.called).to.equal(true);
      } finally {
        planned.restore();
      }
    });
  });
});

describe('ZoneCache', () => {
  it('builds a zone once per name, within its size, and never keeps an unknown name (a BoundedCache)', () => {
    const made = sinon.spy(Zone, 'of');
    try {
      const zones = new ZoneCache(2);
      expect(zones.of('Europe/Berlin')).to.equal(zones.of('Europe/Berlin'));
      expect(zones.of('Mars/Olympus')).to.equal(undefined);
      expect([made.callCount, zones.held]).to.deep.equal([2, 1]);
    } finally {
      made.restore();
    }
  });
});
