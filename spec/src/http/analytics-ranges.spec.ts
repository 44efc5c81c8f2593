import { createHash } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import { RANKINGS_AT_ONCE } from '../../../src/http/analytics.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { ManualClock } from '../../helpers/backends.js';
import { API, createCampaign, expectError } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import { fcParams } from '../../helpers/seed.js';

/**
 * from/to ranges on campaign analytics, and /ads/analytics ranked within a window, a range or all
 * time, paged over the snapshot its first page fixes. Time is one injected clock moved by hand.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 2, 10, 10, 0, 30); // 10:00:30 UTC
const iso = (t: number): string => new Date(t).toISOString();
const q = (params: Record<string, string | number | undefined>): string =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');

describe('analytics ranges and the /ads/analytics ranking', () => {
  let t: TestApp;
  let clock: ManualClock;
  let id: string;

  beforeEach(async () => {
    clock = new ManualClock(T0);
    t = await startTestApp({ clock });
    id = await createCampaign(t);
  });

  afterEach(async () => {
    await t.close();
  });

  /** Clicks on `ad` of campaign `campaign`, `n` of them, at the clock's time. */
  const clicks = async (ad: string, n = 1, campaign = id, extra: Record<string, unknown> = {}): Promise<void> => {
    const res = await t.request('POST', `${API}/clicks`, Array.from({ length: n }, () => ({ campaign_id: campaign, ad_id: ad, ...extra })));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  };
  const range = (params: Record<string, string | number | undefined>) => t.request('GET', `${API}/campaigns/${id}/analytics?${q(params)}`);

  describe('GET /campaigns/{id}/analytics with from/to', () => {
    it('counts exactly the minute buckets of the range, widened to whole minutes, and echoes the range it read', async () => {
      clock.set(T0 - 10 * MINUTE);
      await clicks('a');
      clock.set(T0 - 5 * MINUTE); // 09:55:30
      await clicks('a', 2);
      clock.set(T0);
      await clicks('a', 4);
      const res = await range({ from: '2026-03-10T09:50:45Z', to: '2026-03-10T09:55:10Z' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      // 09:50:45 widens to 09:50:00, so 09:50:30 is in; 09:55:10 to the end of its minute, so 09:55:30 is in.
      expect(res.body).to.deep.include({ campaign_id: id, from: '2026-03-10T09:50:00.000Z', to: '2026-03-10T09:56:00.000Z', clicks: 3 });
      expect(res.body).not.to.have.property('window');
      const exact = await range({ from: '2026-03-10T09:50:00Z', to: '2026-03-10T09:55:00Z' });
      expect(exact.body).to.deep.include({ from: '2026-03-10T09:50:00.000Z', to: '2026-03-10T09:55:00.000Z', clicks: 1 });
      const offset = await range({ from: '2026-03-10T11:50:00+02:00' });
      expect(offset.body, 'to defaults to now: the end of the minute in progress').to.deep.include({ from: '2026-03-10T09:50:00.000Z', to: '2026-03-10T10:01:00.000Z', clicks: 7 });
    });

    it('echoes the bounds a trailing window read, too', async () => {
      const res = await range({ window: '1h' });
      expect(res.body).to.deep.include({ window: '1h', from: '2026-03-10T09:01:00.000Z', to: '2026-03-10T10:01:00.000Z' });
    });

    it('reads minutes while the start minute is kept (24 h) and hours beyond, up to 30 days', async () => {
      clock.set(T0 - 23 * HOUR - 59 * MINUTE);
      await clicks('a');
      clock.set(T0);
      const firstKeptMinute = Math.floor(T0 / MINUTE) * MINUTE - 1439 * MINUTE; // 2026-03-09T10:01:00Z
      const minutes = await range({ from: iso(firstKeptMinute) });
      expect(minutes.body).to.deep.include({ from: iso(firstKeptMinute), clicks: 1 });
      const hours = await range({ from: iso(firstKeptMinute - 1) });
      expect(hours.body, 'one ms earlier: hour buckets').to.deep.include({ from: '2026-03-09T10:00:00.000Z', to: '2026-03-10T11:00:00.000Z', clicks: 1 });
      const oldest = Math.floor(T0 / HOUR) * HOUR - 719 * HOUR;
      expect((await range({ from: iso(oldest) })).status).to.equal(200);
      expectError(await range({ from: iso(oldest - 1) }), 400, 'kept for 30 days', iso(oldest));
    });

    it('refuses from at or after to, from later than now, to without from, and window with from/to', async () => {
      expect((await range({ from: iso(T0 - 1), to: iso(T0) })).status).to.equal(200);
      expectError(await range({ from: iso(T0), to: iso(T0) }), 400, '"from" must be before "to"');
      expect((await range({ from: iso(T0) })).status).to.equal(200);
      expectError(await range({ from: iso(T0 + 1) }), 400, '"from" must not be later than now');
      expectError(await range({ to: iso(T0) }), 400, '"to" needs a "from"');
      expectError(await range({ window: '1h', from: iso(T0 - HOUR) }), 400, '"window" cannot be combined');
      expectError(await range({ window: '1h', to: iso(T0) }), 400, '"window" cannot be combined');
      expectError(await range({ from: '2026-03-10T09:00:00' }), 400, 'query "from"', 'RFC 3339');
      expectError(await range({ from: 'yesterday' }), 400, 'query "from"');
    });
  });

  describe('GET /ads/analytics', () => {
    const ranking = (params: Record<string, string | number | undefined>) => t.request('GET', `${API}/ads/analytics?${q(params)}`);
    const ids = (body: { ads: { ad_id: string; clicks: number }[] }) => body.ads.map((a) => [a.ad_id, a.clicks]);

    it('ranks within a window, a range or one campaign, up to the start of the bucket in progress', async () => {
      const other = await createCampaign(t);
      clock.set(T0 - 2 * HOUR);
      await clicks('old', 5);
      clock.set(T0 - 30 * MINUTE);
      await clicks('a', 2);
      await clicks('b', 3, other);
      clock.set(T0);
      await clicks('a', 2); // in the minute in progress: after the snapshot
      const window = await ranking({ window: '1h' });
      expect(window.body).to.deep.include({ from: '2026-03-10T09:00:00.000Z', to: '2026-03-10T10:00:00.000Z', next_cursor: null });
      expect(ids(window.body)).to.deep.equal([['b', 3], ['a', 2]]);
      expect(ids((await ranking({ window: '1h', campaign_id: id })).body)).to.deep.equal([['a', 2]]);
      expect(ids((await ranking({ from: iso(T0 - 3 * HOUR), to: iso(T0 - HOUR) })).body)).to.deep.equal([['old', 5]]);
      const all = await ranking({});
      expect(all.body).to.deep.include({ from: null, to: '2026-03-10T10:00:00.000Z' });
      expect(ids(all.body)).to.deep.equal([['old', 5], ['b', 3], ['a', 2]]);
      clock.advance(MINUTE);
      expect(ids((await ranking({})).body), 'the next minute, the clicks of 10:00 are in').to.deep.equal([['old', 5], ['a', 4], ['b', 3]]);
      expectError(await ranking({ campaign_id: 'nope' }), 404, 'nope');
      expectError(await ranking({ window: '1h', from: iso(T0 - HOUR) }), 400, '"window" cannot be combined');
      expectError(await ranking({ limit: 0 }), 400, 'limit');
    });

    it('refuses (400) a cursor from another endpoint, another query, another campaign, or altered', async () => {
      for (const ad of ['a', 'b', 'c']) await clicks(ad);
      const second = await createCampaign(t);
      await createCampaign(t);
      for (const ad of ['a', 'b']) {
        for (const c of [id, second]) expect((await t.request('POST', `${API}/campaigns/${c}/ads`, { id: ad, name: ad, image_url: 'https://cdn.example.com/x.png', target_url: 'https://example.com/x' })).status).to.equal(201);
      }
      clock.advance(MINUTE);
      const page = await ranking({ window: '24h', limit: 1 });
      const cursor: string = page.body.next_cursor;
      expect(cursor).to.be.a('string');
      expect((await ranking({ window: '24h', limit: 2, cursor })).status, 'limit may change').to.equal(200);
      expectError(await ranking({ window: '1h', limit: 1, cursor }), 400, 'cursor');
      expectError(await ranking({ window: '24h', campaign_id: id, limit: 1, cursor }), 400, 'cursor');
      expectError(await ranking({ limit: 1, cursor }), 400, 'cursor');
      expectError(await t.request('GET', `${API}/campaigns?cursor=${cursor}`), 400, 'cursor');
      const campaigns = (await t.request('GET', `${API}/campaigns?limit=1`)).body.next_cursor as string;
      expectError(await ranking({ cursor: campaigns }), 400, 'cursor');
      expectError(await t.request('GET', `${API}/ads?cursor=${campaigns}`), 400, 'cursor');
      const ads = (await t.request('GET', `${API}/campaigns/${id}/ads?limit=1`)).body.next_cursor as string;
      expect((await t.request('GET', `${API}/campaigns/${id}/ads?cursor=${ads}`)).status).to.equal(200);
      expectError(await t.request('GET', `${API}/campaigns/${second}/ads?cursor=${ads}`), 400, 'cursor');
      expectError(await t.request('GET', `${API}/ads?cursor=${ads}`), 400, 'cursor');
      const altered = cursor.slice(0, -2) + (cursor.endsWith('A') ? 'BB' : 'AA');
      expectError(await ranking({ window: '24h', cursor: altered }), 400, 'cursor');
      expectError(await ranking({ cursor: 'x'.repeat(1201) }), 400, 'cursor');
    });

    it('refuses (400) a well-checksummed cursor whose snapshot ends after now or runs backwards (the checksum is no secret)', async () => {
      const forge = (query: string, payload: string): string => {
        const hash = createHash('sha256').update(`${API}/ads/analytics`).update('\0');
        for (const [k, v] of new URLSearchParams(query)) hash.update(`${k}=${v}\0`);
        const body = Buffer.from(payload);
        return Buffer.concat([hash.update('\0').update(body).digest().subarray(0, 12), body]).toString('base64url');
      };
      const minute = Math.floor(T0 / MINUTE);
      const digest = 'x'.repeat(16);
      const ok = forge('window=1h', `r1\nm\n${minute - 60}\n${minute}\n0\n${digest}\n0\na`);
      expectError(await ranking({ window: '1h', cursor: ok }), 409, 'changed', 'start again');
      expectError(await ranking({ window: '1h', cursor: forge('window=1h', `r1\nm\n${minute - 60}\n${minute + 1}\n0\n${digest}\n0\na`) }), 400, 'cursor');
      expectError(await ranking({ window: '1h', cursor: forge('window=1h', `r1\nm\n${minute - 60}\n${minute - 62}\n0\n${digest}\n0\na`) }), 400, 'cursor');
      expectError(await ranking({ cursor: forge('', `r1\na\n0\n0\n${T0 + 1}\n${digest}\n0\na`) }), 400, 'cursor');
      expectError(await ranking({ cursor: forge('', `r1\na\n0\n0\n${T0}\n${digest}\n0\na`) }), 409, 'changed');
    });

    it('answers 409 for an all-time cursor once the minutes since its snapshot are no longer all kept (25 h)', async () => {
      for (const ad of ['a', 'b']) await clicks(ad);
      clock.advance(MINUTE);
      const page = await ranking({ limit: 1 });
      const asOf = Date.parse(page.body.to);
      clock.set(asOf + 25 * HOUR - 1);
      expect((await ranking({ limit: 1, cursor: page.body.next_cursor })).status).to.equal(200);
      clock.set(asOf + 25 * HOUR);
      expectError(await ranking({ limit: 1, cursor: page.body.next_cursor }), 409, 'no longer all kept');
    });

    it('answers 409 when a click with a timestamp lands before the snapshot, and when the range is no longer kept', async () => {
      for (const ad of ['a', 'b', 'c']) await clicks(ad);
      clock.advance(MINUTE);
      const page = await ranking({ limit: 1 });
      await clicks('z', 1, id, { timestamp: iso(clock.now()) }); // after the snapshot: no change
      expect((await ranking({ limit: 1, cursor: page.body.next_cursor })).status).to.equal(200);
      await clicks('c', 1, id, { timestamp: iso(T0) }); // before it
      expectError(await ranking({ limit: 1, cursor: page.body.next_cursor }), 409, 'start again');

      // Minute buckets are kept an hour longer than a range may start at: a walk has that hour.
      const minutes = await ranking({ from: iso(T0 - HOUR), limit: 1 });
      const gone = Math.floor((T0 - HOUR) / MINUTE) * MINUTE + DAY + HOUR; // 09:00's minute is no longer kept from 10:00 the next day
      clock.set(gone - 1);
      expect((await ranking({ from: iso(T0 - HOUR), limit: 1, cursor: minutes.body.next_cursor })).status).to.equal(200);
      clock.set(gone);
      expectError(await ranking({ from: iso(T0 - HOUR), limit: 1, cursor: minutes.body.next_cursor }), 409, 'no longer kept');
    });

    /**
     * The model: every click and impression with its ad, campaign and time. A walk's expected rows
     * are the model's ranking over the snapshot the first page announced ([from, to)); a later page
     * may instead answer 409, and must exactly when a click with a timestamp landed inside it.
     */
    it(`ranks across every campaign ${RANKINGS_AT_ONCE} pages at once at most: one more is 503 with Retry-After, and one campaign's ranking still answers`, async () => {
      await clicks('a');
      const analytics = t.counter.analytics;
      const original = analytics.adsAcrossCampaigns.bind(analytics);
      let release = (): void => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let held = 0;
      const stub = sinon.stub(analytics, 'adsAcrossCampaigns').callsFake(async (...args) => {
        if (args[3] === undefined) {
          held++;
          await gate;
        }
        return original(...args);
      });
      try {
        const first = Array.from({ length: RANKINGS_AT_ONCE }, () => t.request('GET', `${API}/ads/analytics`));
        await waitFor(() => held === RANKINGS_AT_ONCE, 5_000, 'rankings held');
        const refused = await t.request('GET', `${API}/ads/analytics?window=1h`);
        expectError(refused, 503, 'rankings across every campaign are being computed');
        expect(refused.headers.get('retry-after')).to.equal('1');
        expect((await t.request('GET', `${API}/ads/analytics?campaign_id=${id}`)).status).to.equal(200);
        release();
        for (const res of await Promise.all(first)) expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect((await t.request('GET', `${API}/ads/analytics`)).status).to.equal(200);
      } finally {
        stub.restore();
      }
    });

    it('never repeats or skips a row while clicks keep arriving between pages (property, against a model)', async function () {
      this.timeout(120_000);
      const ADS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
      const event = fc.record({ ad: fc.integer({ min: 0, max: ADS.length - 1 }), campaign: fc.integer({ min: 0, max: 1 }), impression: fc.boolean(), n: fc.integer({ min: 1, max: 3 }) });
      const batch = fc.record({ advanceMs: fc.integer({ min: 0, max: 3 * MINUTE }), events: fc.array(event, { maxLength: 5 }), lateMs: fc.option(fc.integer({ min: 1, max: 50 * MINUTE }), { freq: 6 }) });
      const scenario = fc.record({
        before: fc.array(batch, { minLength: 1, maxLength: 8 }),
        query: fc.constantFrom<Record<string, string | undefined>>({}, { window: '1h' }, { window: '24h' }, { range: 'last20m' }, { campaign: 'first' }),
        pages: fc.array(fc.record({ limit: fc.integer({ min: 1, max: 3 }), between: batch }), { minLength: 1, maxLength: 8 }),
      });
      type Batch = { advanceMs: number; events: { ad: number; campaign: number; impression: boolean; n: number }[]; lateMs: number | null };
      await fc.assert(
        fc.asyncProperty(scenario, async ({ before, query, pages }) => {
          await t.close();
          clock = new ManualClock(T0); // a fresh service per case
          t = await startTestApp({ clock });
          const campaigns = [await createCampaign(t), await createCampaign(t)];
          const log: { ad: string; campaign: number; at: number; impression: boolean }[] = [];
          let user = 0;
          const send = async (b: Batch): Promise<void> => {
            clock.advance(b.advanceMs);
            const now = clock.now();
            const at = b.lateMs === null ? now : now - b.lateMs;
            const imps: unknown[] = [];
            const cls: unknown[] = [];
            for (const e of b.events) {
              for (let k = 0; k < e.n; k++) {
                const base = { campaign_id: campaigns[e.campaign], ad_id: ADS[e.ad], ...(b.lateMs !== null && { timestamp: iso(at) }) };
                if (e.impression) imps.push({ ...base, user_id: `u${user++}` });
                else cls.push(base);
                log.push({ ad: ADS[e.ad], campaign: e.campaign, at, impression: e.impression });
              }
            }
            if (imps.length > 0) expect((await t.request('POST', `${API}/impressions`, imps)).body.counted).to.equal(imps.length);
            if (cls.length > 0) expect((await t.request('POST', `${API}/clicks`, cls)).body.counted).to.equal(cls.length);
          };
          for (const b of before) await send(b);
          clock.advance(1);
          const params: Record<string, string | undefined> = { window: query.window, campaign_id: query.campaign === 'first' ? campaigns[0] : undefined };
          if (query.range !== undefined) params.from = iso(clock.now() - 20 * MINUTE);
          const model = (from: number, to: number): [string, number, number, number][] => {
            const rows = new Map<string, { clicks: number; impressions: number; campaigns: Set<number> }>();
            for (const e of log) {
              if (e.at < from || e.at >= to || (params.campaign_id !== undefined && e.campaign !== 0)) continue;
              const r = rows.get(e.ad) ?? { clicks: 0, impressions: 0, campaigns: new Set<number>() };
              if (e.impression) r.impressions++;
              else r.clicks++;
              r.campaigns.add(e.campaign);
              rows.set(e.ad, r);
            }
            return [...rows]
              .map(([ad, r]): [string, number, number, number] => [ad, r.clicks, r.impressions, r.campaigns.size])
              .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
          };
          let cursor: string | undefined;
          let expected: [string, number, number, number][] = [];
          let from = -Infinity;
          let to = Infinity;
          const seen: [string, number, number, number][] = [];
          for (let i = 0; i < pages.length; i++) {
            const res = await t.request('GET', `${API}/ads/analytics?${q({ ...params, limit: pages[i].limit, cursor })}`);
            if (i > 0 && JSON.stringify(model(from, to)) !== JSON.stringify(expected)) {
              expectError(res, 409, 'start again');
              return;
            }
            expect(res.status, JSON.stringify(res.body)).to.equal(200);
            if (i === 0) {
              from = res.body.from === null ? -Infinity : Date.parse(res.body.from);
              to = Date.parse(res.body.to);
              expect(to, 'the snapshot ends at the start of the minute in progress').to.equal(Math.floor(clock.now() / MINUTE) * MINUTE);
              if (params.window === '1h') expect(to - from).to.equal(HOUR);
              expected = model(from, to);
            }
            seen.push(...res.body.ads.map((r: { ad_id: string; clicks: number; impressions: number; campaigns: number }): [string, number, number, number] => [r.ad_id, r.clicks, r.impressions, r.campaigns]));
            cursor = res.body.next_cursor ?? undefined;
            if (cursor === undefined) break;
            await send(pages[i].between);
          }
          if (cursor === undefined) expect(seen).to.deep.equal(expected);
          else expect(seen).to.deep.equal(expected.slice(0, seen.length));
        }),
        fcParams(40),
      );
    });
  });
});
