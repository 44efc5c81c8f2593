import { expect } from 'chai';
import { ALL_BACKENDS, ManualClock, type Backend, type NodeApp, type NodeOptions } from '../helpers/backends.js';
import { API, createCampaign, expectError, impression, listAll, postImpression, stats } from '../helpers/http.js';
import { seededTests } from '../helpers/seed.js';

/**
 * One conformance suite, three backends: the same HTTP-level behaviour (TTL rule, window edges,
 * error answers, batches, idempotency, exact counts under concurrency) in memory, on one Redis
 * server and on a 3-master Redis Cluster, driven by the same injected clock.
 */

const TTL = 10 * 60_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The answer to a batch of a replayed counted item, a replayed duplicate and a new item. */
const REPLAYS_AND_A_NEW_ONE = {
  results: [{ counted: true, replayed: true }, { counted: false, duplicate: true, replayed: true }, { counted: true }],
  counted: 1,
  duplicates: 0,
  bot_filtered: 0,
  replayed: 2,
  rejected: 0,
};

for (const makeBackend of ALL_BACKENDS) {
  const backend: Backend = makeBackend();

  describe(`conformance: ${backend.name}`, function () {
    let clock: ManualClock;
    let nodes: NodeApp[] = [];
    let t: NodeApp;

    async function node(options: Partial<NodeOptions> = {}): Promise<NodeApp> {
      const started = await backend.startNode({ ttlMs: TTL, clock, ...options });
      nodes.push(started);
      return started;
    }

    before(async function () {
      this.timeout(30_000);
      await backend.setUp(this);
    });
    after(() => backend.tearDown());

    beforeEach(async () => {
      await backend.reset();
      // The start of a minute, so window edges are easy to state.
      clock = new ManualClock(Date.UTC(2026, 0, 15, 12, 0, 0));
      t = await node();
    });

    afterEach(async () => {
      await Promise.all(nodes.map((n) => n.close()));
      nodes = [];
    });

    describe('campaigns', () => {
      it('creates a campaign, then gets it and lists it', async () => {
        const created = await t.request('POST', `${API}/campaigns`, { name: 'spring', start_time: '2026-01-01T00:00:00Z' });
        expect(created.status).to.equal(201);
        expect(created.headers.get('location')).to.equal(`${API}/campaigns/${created.body.id}`);
        expect(created.body).to.include({ name: 'spring', start_time: '2026-01-01T00:00:00.000Z' });
        const got = await t.request('GET', `${API}/campaigns/${created.body.id}`);
        expect(got.status).to.equal(200);
        expect(got.body).to.deep.equal({ id: created.body.id, name: 'spring', start_time: '2026-01-01T00:00:00.000Z', created_at: new Date(clock.now()).toISOString() });
      });

      it('defaults start_time to now (the injected clock)', async () => {
        const res = await t.request('POST', `${API}/campaigns`, { name: 'now' });
        expect(res.body.start_time).to.equal(new Date(clock.now()).toISOString());
      });

      it('lists campaigns in creation order, a page at a time', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await createCampaign(t, { name: `c${i}` }));
        const first = await t.request('GET', `${API}/campaigns?limit=2`);
        expect(first.body.campaigns.map((c: { id: string }) => c.id)).to.deep.equal(ids.slice(0, 2));
        const second = await t.request('GET', `${API}/campaigns?limit=2&cursor=${first.body.next_cursor}`);
        expect(second.body.campaigns.map((c: { id: string }) => c.id)).to.deep.equal(ids.slice(2, 4));
        const last = await t.request('GET', `${API}/campaigns?limit=2&cursor=${second.body.next_cursor}`);
        expect(last.body.campaigns.map((c: { id: string }) => c.id)).to.deep.equal(ids.slice(4));
        expect(last.body.next_cursor).to.equal(null);
      });

      it("lists campaigns with include=figures whose figures equal the stats and timeseries endpoints' (with q and cursors, across nodes when shared)", async () => {
        const other = backend.shared ? await node() : t;
        const a = await createCampaign(t, { name: 'Sale a', start_time: '2026-01-01T00:00:00Z' });
        await createCampaign(t, { name: 'winter' });
        const b = await createCampaign(t, { name: 'SALE b', start_time: '2026-01-01T00:00:00Z' });
        const t0 = clock.now(); // 2026-01-15T12:00:00Z
        await postImpression(t, [impression(a, 'u1'), impression(a, 'u2'), impression(b, 'u1')]);
        clock.set(t0 + 90 * MINUTE);
        await postImpression(other, impression(a, 'u3'));
        clock.set(t0 + DAY + 30 * MINUTE); // 12:30 the next day: the 24 hours listed are 13:00 to 13:00
        const listed = await listAll(other, 'q=sale&include=figures&limit=1');
        expect(listed.map((c) => c.id)).to.deep.equal([a, b]);
        for (const c of listed) {
          const { last_hour, last_day, total } = await stats(t, c.id as string);
          const series = await t.request('GET', `${API}/campaigns/${c.id as string}/timeseries?interval=hour&from=2026-01-15T13:00:00Z&to=2026-01-16T13:00:00Z`);
          expect(c).to.deep.include({ last_hour, last_day, total, hourly: series.body.buckets.map((x: { impressions: number }) => x.impressions) });
        }
        expect(listed[0]).to.deep.include({ total: 3, last_hour: 0, last_day: 1, hourly: [1, ...Array<number>(23).fill(0)] });
        expect(listed[1]).to.deep.include({ total: 1, last_hour: 0, last_day: 0, hourly: Array<number>(24).fill(0) });
      });

      it('answers 404 for an unknown campaign and its stats, naming it', async () => {
        expectError(await t.request('GET', `${API}/campaigns/nope`), 404, 'nope');
        expectError(await t.request('GET', `${API}/campaigns/nope/stats`), 404, 'nope');
        expectError(await t.request('GET', `${API}/campaigns/${encodeURIComponent('we{ir}d:id')}/stats`), 404);
      });

      it('answers 400 for an invalid campaign', async () => {
        expectError(await t.request('POST', `${API}/campaigns`, { name: '' }), 400, 'name');
        expectError(await t.request('POST', `${API}/campaigns`, { name: 'x', extra: 1 }), 400, 'extra');
      });
    });

    describe('impressions', () => {
      it('counts a user once, counts the same user in another campaign, and reports stats', async () => {
        const a = await createCampaign(t, { name: 'a' });
        const b = await createCampaign(t, { name: 'b' });
        expect((await postImpression(t, impression(a, 'u1'))).body).to.include({ counted: true });
        expect((await postImpression(t, impression(a, 'u1', 'other-ad'))).body).to.include({ counted: false });
        expect((await postImpression(t, impression(b, 'u1'))).body).to.include({ counted: true });
        expect((await postImpression(t, impression(a, 'u2'))).body).to.include({ counted: true });
        expect(await stats(t, a)).to.deep.equal({ campaign_id: a, last_hour: 2, last_day: 2, total: 2 });
        expect(await stats(t, b)).to.include({ total: 1 });
      });

      it('answers 404 for an unknown campaign, 409 before start_time (and counts at it exactly), 400 when invalid', async () => {
        expectError(await postImpression(t, impression('no-such-campaign', 'u1')), 404, 'no-such-campaign');
        expectError(await postImpression(t, impression('we{ir}d:id', 'u1')), 404);
        const start = clock.now() + MINUTE;
        const id = await createCampaign(t, { start_time: new Date(start).toISOString() });
        clock.set(start - 1);
        expectError(await postImpression(t, impression(id, 'u1')), 409, id, new Date(start).toISOString());
        clock.set(start);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
        expectError(await postImpression(t, { ...impression(id, 'u1'), user_id: '' }), 400, 'user_id');
        expectError(await postImpression(t, { campaign_id: id, user_id: 'u1' }), 400, 'ad_id');
        expect((await stats(t, id)).total).to.equal(1);
      });

      it('keeps a user a duplicate until TTL − 1 ms and counts them again at TTL', async () => {
        const id = await createCampaign(t);
        const t0 = clock.now();
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
        clock.set(t0 + TTL - 1);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(false);
        clock.set(t0 + TTL);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
        clock.set(t0 + 2 * TTL - 1);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(false);
        expect((await stats(t, id)).total).to.equal(2);
      });

      it('never lets duplicates extend the window (it is fixed from the counted impression)', async () => {
        const id = await createCampaign(t);
        const t0 = clock.now();
        await postImpression(t, impression(id, 'u1'));
        for (const offset of [1, TTL / 2, TTL - 1]) {
          clock.set(t0 + offset);
          expect((await postImpression(t, impression(id, 'u1'))).body.counted, `at +${offset} ms`).to.equal(false);
        }
        clock.set(t0 + TTL);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
      });

      it('answers a retry with the same impression_id with its first outcome and never counts it twice, for a day', async () => {
        const id = await createCampaign(t);
        const once = { ...impression(id, 'u1'), impression_id: 'imp-1' };
        const first = await postImpression(t, once);
        expect(first.body).to.deep.equal({ message: 'impression counted', counted: true });
        expect(first.headers.get('idempotent-replayed')).to.equal(null);
        const retry = await postImpression(t, once);
        expect(retry.body).to.include({ counted: true, replayed: true });
        expect(retry.headers.get('idempotent-replayed')).to.equal('true');
        clock.advance(TTL); // the user would count again, but this is the same impression
        expect((await postImpression(t, once)).body.counted).to.equal(true);
        expect((await stats(t, id)).total).to.equal(1);
        const dup = { ...impression(id, 'u1'), impression_id: 'imp-2' };
        clock.advance(TTL);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
        expect((await postImpression(t, dup)).body.counted).to.equal(false);
        clock.advance(TTL); // the user would count now, but imp-2 was a duplicate
        expect((await postImpression(t, dup)).body).to.include({ counted: false, duplicate: true, replayed: true });
        const batch = await postImpression(t, [once, dup, { ...impression(id, 'u9'), impression_id: 'imp-3' }]);
        expect(batch.body).to.deep.equal(REPLAYS_AND_A_NEW_ONE);
        clock.advance(DAY);
        expect((await postImpression(t, once)).body, 'a day later the id is forgotten').to.deep.equal({ message: 'impression counted', counted: true });
        expect((await stats(t, id)).total).to.equal(4);
      });
    });

    describe('windows', () => {
      it('keeps an impression in last_hour until the 60th minute after its own starts, and in last_day until the 1,440th', async () => {
        const id = await createCampaign(t);
        const minuteStart = clock.now();
        clock.set(minuteStart + 59_999); // the last millisecond of the impression's minute
        await postImpression(t, impression(id, 'u1'));
        clock.set(minuteStart + HOUR - 1);
        expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 1, total: 1 });
        clock.set(minuteStart + HOUR);
        expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 1, total: 1 });
        clock.set(minuteStart + DAY - 1);
        expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 1, total: 1 });
        clock.set(minuteStart + DAY);
        expect(await stats(t, id)).to.deep.equal({ campaign_id: id, last_hour: 0, last_day: 0, total: 1 });
      });

      it('sums impressions across minutes, each leaving on its own edge', async () => {
        const id = await createCampaign(t);
        const t0 = clock.now();
        for (let m = 0; m < 3; m++) {
          clock.set(t0 + m * MINUTE + 30_000);
          await postImpression(t, impression(id, `u${m}`));
        }
        clock.set(t0 + HOUR + MINUTE - 1); // minute 0 has left the hour, minutes 1 and 2 have not
        expect(await stats(t, id)).to.include({ last_hour: 2, last_day: 3 });
        clock.set(t0 + HOUR + MINUTE);
        expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 3 });
        clock.set(t0 + HOUR + 3 * MINUTE - 1);
        expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 3 });
        clock.set(t0 + DAY + 3 * MINUTE);
        expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 0, total: 3 });
      });

      it('keeps minutes that straddle an hour each up to its own edge, in last_hour and last_day (windows that start inside an hour and on one)', async () => {
        const id = await createCampaign(t);
        const t0 = clock.now(); // 12:00
        const minutes = [57, 58, 59, 60, 61, 62]; // 12:57 to 13:02
        for (const [k, m] of minutes.entries()) {
          clock.set(t0 + m * MINUTE + 30_000);
          await postImpression(t, impression(id, `u${k}`));
        }
        for (const edge of [60, 1440]) {
          for (const m of minutes) {
            for (const r of [m + edge - 1, m + edge]) {
              clock.set(t0 + r * MINUTE + (r % 2 === 0 ? 0 : MINUTE - 1));
              const expected = { last_hour: minutes.filter((x) => x > r - 60).length, last_day: minutes.filter((x) => x > r - 1440).length, total: minutes.length };
              expect(await stats(t, id), `read in minute ${r} after 12:00`).to.include(expected);
            }
          }
        }
      });

      it('keeps counting correctly more than a day later (old buckets do not come back)', async () => {
        const id = await createCampaign(t);
        await postImpression(t, impression(id, 'u1'));
        clock.advance(DAY + 5 * MINUTE);
        await postImpression(t, impression(id, 'u2'));
        expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 1, total: 2 });
      });
    });

    describe('batches', () => {
      it('answers item by item: counted, duplicates (within the batch too), invalid, unknown and not started', async () => {
        const id = await createCampaign(t);
        const later = await createCampaign(t, { start_time: new Date(clock.now() + HOUR).toISOString() });
        await postImpression(t, impression(id, 'seen'));
        const res = await postImpression(t, [
          impression(id, 'u1'),
          impression(id, 'u1'),
          impression(id, 'seen'),
          { ...impression(id, 'u2'), bogus: true },
          impression('no-such-campaign', 'u3'),
          impression(later, 'u4'),
          impression(id, 'u5'),
        ]);
        expect(res.status).to.equal(200);
        const codes = res.body.results.map((r: { counted?: boolean; code?: number }) => r.code ?? r.counted);
        expect(codes).to.deep.equal([true, false, false, 400, 404, 409, true]);
        expect(res.body).to.include({ counted: 2, duplicates: 2, rejected: 3 });
        expect(await stats(t, id)).to.include({ total: 3 });
        expect(await stats(t, later)).to.include({ total: 0 });
      });

      it('counts a batch spread over several campaigns', async () => {
        const ids = [await createCampaign(t), await createCampaign(t), await createCampaign(t)];
        const items = [];
        // Each campaign gets 100 items: 50 users, each twice.
        for (let u = 0; u < 300; u++) items.push(impression(ids[u % 3], `user-${u % 150}`));
        const res = await postImpression(t, items);
        expect(res.body).to.include({ counted: 150, duplicates: 150, rejected: 0 });
        for (const id of ids) expect((await stats(t, id)).total).to.equal(50);
      });
    });

    describe('exactness under concurrency', () => {
      const { random } = seededTests('spec/src/conformance.spec.ts');
      it('counts exactly the distinct users of shuffled, repeated, concurrent requests (singles and batches, across nodes when shared)', async () => {
        const peers = backend.shared ? [t, await node()] : [t];
        const id = await createCampaign(t);
        const users = 400;
        const sends: unknown[][] = [];
        for (let round = 0; round < 4; round++) {
          const order = shuffle(Array.from({ length: users }, (_, u) => impression(id, `user-${u}`)), random);
          for (let i = 0; i < order.length; i += 40) sends.push(order.slice(i, i + 40));
        }
        for (let u = 0; u < 100; u++) sends.push([impression(id, `user-${u}`)]);
        const results = await Promise.all(
          shuffle(sends, random).map((batch, i) => postImpression(peers[i % peers.length], batch.length === 1 ? batch[0] : batch)),
        );
        let counted = 0;
        for (const r of results) {
          expect(r.status, JSON.stringify(r.body)).to.equal(200);
          counted += Array.isArray(r.body.results) ? r.body.counted : r.body.counted ? 1 : 0;
        }
        expect(counted, 'impressions acknowledged as counted').to.equal(users);
        for (const peer of peers) expect(await stats(peer, id)).to.include({ total: users, last_hour: users, last_day: users });
      });
    });

    describe('clicks and analytics', () => {
      const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
      const click = (campaignId: string, adId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ campaign_id: campaignId, ad_id: adId, ...extra });
      async function analytics(on: NodeApp, id: string, window: string): Promise<Record<string, number>> {
        const res = await on.request('GET', `${API}/campaigns/${id}/analytics?window=${window}`);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        return res.body;
      }

      it('reports counted, duplicate and bot impressions, clicks, CTR, playback and distinct users (across nodes when shared)', async () => {
        const other = backend.shared ? await node() : t;
        const id = await createCampaign(t);
        await postImpression(t, [impression(id, 'u1', 'ad-a'), impression(id, 'u2', 'ad-a'), impression(id, 'u1', 'ad-a'), { ...impression(id, 'u9'), user_agent: GOOGLEBOT }]);
        await postImpression(other, impression(id, 'u3', 'ad-b'));
        const clicks = await other.request('POST', `${API}/clicks`, [
          click(id, 'ad-a', { user_id: 'u1', playback_time: 10 }),
          click(id, 'ad-a', { user_id: 'u2', playback_time: 20.5 }),
          click(id, 'ad-b', { user_id: 'u5' }),
          click(id, 'ad-b', { user_agent: GOOGLEBOT }),
        ]);
        expect(clicks.body).to.deep.include({ counted: 3, duplicates: 0, bot_filtered: 1, rejected: 0 });
        for (const peer of [t, other]) {
          const a = await analytics(peer, id, '1h');
          expect(a).to.deep.include({ campaign_id: id, window: '1h', impressions: 3, raw_impressions: 4, duplicates: 1, bot_filtered: 2, clicks: 3, ctr: 1, unique_users: 3, total_playback_time: 30.5 });
          expect(a.avg_playback_time).to.be.closeTo(15.25, 1e-12);
          expect(await analytics(peer, id, '24h')).to.deep.include({ impressions: 3, clicks: 3, unique_users: 3 });
          expect(await analytics(peer, id, '30d')).to.deep.include({ impressions: 3, clicks: 3, unique_users: 3 });
        }
        const single = await t.request('POST', `${API}/clicks`, click(id, 'ad-a', { user_id: 'u3' }));
        expect(single.body).to.include({ counted: true });
        expect((await analytics(t, id, '6h')).ctr).to.equal(4 / 3);
      });

      it('reports per ad with group_by=ad, first seen first (across nodes when shared)', async () => {
        const other = backend.shared ? await node() : t;
        const id = await createCampaign(t);
        await postImpression(t, [impression(id, 'u1', 'ad-b'), impression(id, 'u2', 'ad-a'), impression(id, 'u1', 'ad-a'), { ...impression(id, 'u9', 'ad-c'), user_agent: GOOGLEBOT }]);
        await other.request('POST', `${API}/clicks`, [click(id, 'ad-a', { user_id: 'u1', playback_time: 10 }), click(id, 'ad-a', { user_id: 'u2', playback_time: 20 }), click(id, 'ad-b')]);
        const res = await other.request('GET', `${API}/campaigns/${id}/analytics?window=24h&group_by=ad`);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body).to.deep.include({ impressions: 2, raw_impressions: 3, duplicates: 1, bot_filtered: 1, clicks: 3, unique_users: 2, total_playback_time: 30 });
        expect(res.body.ads).to.deep.equal([
          { ad_id: 'ad-b', impressions: 1, raw_impressions: 1, duplicates: 0, bot_filtered: 0, clicks: 1, duplicate_clicks: 0, ctr: 1, unique_users: 1, avg_playback_time: 0, total_playback_time: 0 },
          { ad_id: 'ad-a', impressions: 1, raw_impressions: 2, duplicates: 1, bot_filtered: 0, clicks: 2, duplicate_clicks: 0, ctr: 2, unique_users: 1, avg_playback_time: 15, total_playback_time: 30 },
          { ad_id: 'ad-c', impressions: 0, raw_impressions: 0, duplicates: 0, bot_filtered: 1, clicks: 0, duplicate_clicks: 0, ctr: 0, unique_users: 0, avg_playback_time: 0, total_playback_time: 0 },
        ]);
      });

      it('registers ads (201, 200 for the same again, 409 for other metadata), lists them per campaign and across campaigns, and sums ads across campaigns', async () => {
        const other = backend.shared ? await node() : t;
        const a = await createCampaign(t);
        const b = await createCampaign(t);
        const ad = (id: string, name = id) => ({ id, name, image_url: `https://cdn.example.com/${id}.png`, target_url: 'https://shop.example.com/' });
        const created = await t.request('POST', `${API}/campaigns/${a}/ads`, ad('banner'));
        expect(created.status).to.equal(201);
        expect(created.body).to.include({ id: 'banner', campaign_id: a, name: 'banner', image_url: 'https://cdn.example.com/banner.png', created_at: new Date(clock.now()).toISOString() });
        clock.advance(1000);
        const again = await other.request('POST', `${API}/campaigns/${a}/ads`, ad('banner'));
        expect(again.status).to.equal(200);
        expect(again.body.created_at).to.equal(created.body.created_at);
        expectError(await other.request('POST', `${API}/campaigns/${a}/ads`, ad('banner', 'renamed')), 409, 'banner');
        expectError(await t.request('POST', `${API}/campaigns/nope/ads`, ad('x')), 404, 'nope');
        expectError(await t.request('GET', `${API}/campaigns/nope/ads`), 404, 'nope');
        expect((await t.request('POST', `${API}/campaigns/${a}/ads`, ad('video'))).status).to.equal(201);
        expect((await other.request('POST', `${API}/campaigns/${b}/ads`, ad('banner'))).status).to.equal(201);
        const first = await other.request('GET', `${API}/campaigns/${a}/ads?limit=1`);
        expect(first.body.ads.map((x: { id: string }) => x.id)).to.deep.equal(['banner']);
        const second = await other.request('GET', `${API}/campaigns/${a}/ads?limit=1&cursor=${first.body.next_cursor}`);
        expect(second.body).to.deep.include({ next_cursor: null });
        expect(second.body.ads.map((x: { id: string }) => x.id)).to.deep.equal(['video']);
        const all = await t.request('GET', `${API}/ads?limit=10`);
        expect(all.body.ads.map((x: { id: string; campaign_id: string }) => [x.campaign_id, x.id])).to.deep.equal([
          [a, 'banner'],
          [a, 'video'],
          [b, 'banner'],
        ]);
        await postImpression(t, [impression(a, 'u1', 'banner'), impression(b, 'u1', 'banner'), impression(b, 'u2', 'banner'), impression(a, 'u3', 'video')]);
        await other.request('POST', `${API}/clicks`, [{ campaign_id: a, ad_id: 'banner', playback_time: 4 }, { campaign_id: b, ad_id: 'banner' }, { campaign_id: a, ad_id: 'video' }]);
        clock.advance(40 * DAY); // all-time figures, beyond every window
        const across = await other.request('GET', `${API}/ads/analytics`);
        expect(across.body.ads).to.deep.equal([
          { ad_id: 'banner', campaigns: 2, clicks: 2, impressions: 3, ctr: 2 / 3, total_playback_time: 4, avg_playback_time: 4 },
          { ad_id: 'video', campaigns: 1, clicks: 1, impressions: 1, ctr: 1, total_playback_time: 0, avg_playback_time: 0 },
        ]);
      });

      it('answers time series of counted impressions and clicks per minute, hour and day, from minute, quarter-hour and day buckets (across nodes when shared)', async () => {
        const other = backend.shared ? await node() : t;
        const id = await createCampaign(t, { start_time: '2026-01-01T00:00:00Z' });
        const t0 = clock.now(); // 2026-01-15T12:00:00Z
        await postImpression(t, [impression(id, 'u1'), impression(id, 'u2'), impression(id, 'u1')]);
        clock.set(t0 + MINUTE + 5_000);
        await other.request('POST', `${API}/clicks`, click(id, 'ad-1'));
        clock.set(t0 + HOUR + 30 * MINUTE);
        await postImpression(other, impression(id, 'u3'));
        clock.set(t0 + 2 * HOUR);
        const series = async (on: NodeApp, q: string): Promise<unknown[]> => {
          const res = await on.request('GET', `${API}/campaigns/${id}/timeseries?${q}`);
          expect(res.status, JSON.stringify(res.body)).to.equal(200);
          return res.body.buckets;
        };
        expect(await series(t, 'interval=minute&from=2026-01-15T11:59:00Z&to=2026-01-15T12:02:00Z')).to.deep.equal([
          { start: '2026-01-15T11:59:00.000Z', impressions: 0, clicks: 0 },
          { start: '2026-01-15T12:00:00.000Z', impressions: 2, clicks: 0 },
          { start: '2026-01-15T12:01:00.000Z', impressions: 0, clicks: 1 },
        ]);
        const hours = [
          { start: '2026-01-15T11:00:00.000Z', impressions: 0, clicks: 0 },
          { start: '2026-01-15T12:00:00.000Z', impressions: 2, clicks: 1 },
          { start: '2026-01-15T13:00:00.000Z', impressions: 1, clicks: 0 },
        ];
        expect(await series(other, 'interval=hour&from=2026-01-15T11:00:00Z&to=2026-01-15T14:00:00Z')).to.deep.equal(hours);
        clock.set(t0 + 5 * DAY); // minute buckets are gone: hours come from quarter hours, days from UTC days
        expect(await series(t, 'interval=hour&from=2026-01-15T11:00:00Z&to=2026-01-15T14:00:00Z')).to.deep.equal(hours);
        expect(await series(other, 'interval=day&from=2026-01-14T00:00:00Z&to=2026-01-17T00:00:00Z')).to.deep.equal([
          { start: '2026-01-14T00:00:00.000Z', impressions: 0, clicks: 0 },
          { start: '2026-01-15T00:00:00.000Z', impressions: 3, clicks: 1 },
          { start: '2026-01-16T00:00:00.000Z', impressions: 0, clicks: 0 },
        ]);
        expectError(await t.request('GET', `${API}/campaigns/nope/timeseries`), 404, 'nope');
      });

      it('answers 404 for an unknown campaign, 409 for a click before start_time, and 0 (never NaN) for an empty window', async () => {
        expectError(await t.request('GET', `${API}/campaigns/nope/analytics`), 404, 'nope');
        expectError(await t.request('POST', `${API}/clicks`, click('nope', 'ad-a')), 404, 'nope');
        const later = await createCampaign(t, { start_time: new Date(clock.now() + HOUR).toISOString() });
        expectError(await t.request('POST', `${API}/clicks`, click(later, 'ad-a')), 409, later);
        expect(await analytics(t, later, '24h')).to.deep.include({ impressions: 0, clicks: 0, ctr: 0, unique_users: 0, avg_playback_time: 0, total_playback_time: 0 });
        const id = await createCampaign(t);
        await t.request('POST', `${API}/clicks`, click(id, 'ad-a'));
        expect(await analytics(t, id, '1h')).to.deep.include({ impressions: 0, clicks: 1, ctr: 0 });
      });

      it('keeps figures in the 1h window through the 59th minute after their own and drops them at the next; 7d and 30d read hour buckets', async () => {
        const id = await createCampaign(t);
        const t0 = clock.now();
        clock.set(t0 + 59_999);
        await postImpression(t, impression(id, 'u1'));
        await t.request('POST', `${API}/clicks`, click(id, 'ad-1'));
        clock.set(t0 + HOUR - 1);
        expect(await analytics(t, id, '1h')).to.deep.include({ impressions: 1, clicks: 1, unique_users: 1 });
        clock.set(t0 + HOUR);
        expect(await analytics(t, id, '1h')).to.deep.include({ impressions: 0, clicks: 0, unique_users: 0 });
        expect(await analytics(t, id, '6h')).to.deep.include({ impressions: 1, clicks: 1, unique_users: 1 });
        clock.set(t0 + DAY - 1);
        expect(await analytics(t, id, '24h')).to.deep.include({ impressions: 1, unique_users: 1 });
        clock.set(t0 + DAY);
        expect(await analytics(t, id, '24h')).to.deep.include({ impressions: 0, unique_users: 0 });
        clock.set(t0 + 7 * DAY - 1); // the impression's hour is the 168th hour back
        expect(await analytics(t, id, '7d')).to.deep.include({ impressions: 1, clicks: 1 });
        clock.set(t0 + 7 * DAY);
        expect(await analytics(t, id, '7d')).to.deep.include({ impressions: 0, clicks: 0 });
        expect(await analytics(t, id, '30d')).to.deep.include({ impressions: 1, unique_users: 1 });
        clock.set(t0 + 30 * DAY);
        expect(await analytics(t, id, '30d')).to.deep.include({ impressions: 0, unique_users: 0 });
      });

      it('reads from/to ranges from minute or hour buckets, and pages a ranking of one snapshot while clicks arrive (across nodes when shared)', async () => {
        const other = backend.shared ? await node() : t;
        const a = await createCampaign(t);
        const b = await createCampaign(t);
        const t0 = clock.now(); // 12:00:00
        const iso = (ms: number) => new Date(ms).toISOString();
        const clicks = (campaign: string, ad: string, n: number) => other.request('POST', `${API}/clicks`, Array.from({ length: n }, () => click(campaign, ad)));
        await postImpression(t, [impression(a, 'u1', 'x'), impression(a, 'u2', 'y')]);
        await clicks(a, 'x', 1);
        clock.set(t0 + 2 * HOUR + 30_000);
        await clicks(a, 'y', 3);
        await clicks(b, 'x', 1);
        const range = async (from: number, to: number) => (await t.request('GET', `${API}/campaigns/${a}/analytics?from=${iso(from)}&to=${iso(to)}`)).body;
        expect(await range(t0 + 2 * HOUR + 10_000, t0 + 2 * HOUR + 20_000)).to.deep.include({ from: iso(t0 + 2 * HOUR), to: iso(t0 + 2 * HOUR + MINUTE), clicks: 3, impressions: 0 });
        expect(await range(t0, t0 + MINUTE)).to.deep.include({ clicks: 1, impressions: 2, unique_users: 2 });
        clock.set(t0 + 25 * HOUR); // 12:00 of yesterday is older than the minutes kept: hour buckets
        expect(await range(t0 + 30_000, t0 + HOUR)).to.deep.include({ from: iso(t0), to: iso(t0 + HOUR), clicks: 1, impressions: 2 });

        const page = async (query: string) => (await other.request('GET', `${API}/ads/analytics?${query}`)).body;
        const first = await page('limit=1');
        expect(first).to.deep.include({ from: null, to: iso(t0 + 25 * HOUR) });
        expect(first.ads.map((r: { ad_id: string }) => r.ad_id)).to.deep.equal(['y']);
        clock.advance(30_000);
        await clicks(b, 'x', 5); // after the snapshot: 'x' would now rank first
        const second = await t.request('GET', `${API}/ads/analytics?limit=1&cursor=${first.next_cursor}`);
        expect(second.body).to.deep.include({ next_cursor: null });
        expect(second.body.ads).to.deep.equal([{ ad_id: 'x', campaigns: 2, clicks: 2, impressions: 1, ctr: 2, total_playback_time: 0, avg_playback_time: 0 }]);
        const fresh = await page(`from=${iso(t0 + 2 * HOUR)}`);
        expect(fresh.ads.map((r: { ad_id: string; clicks: number }) => [r.ad_id, r.clicks])).to.deep.equal([['y', 3], ['x', 1]]);
        clock.advance(MINUTE);
        expect((await page(`campaign_id=${b}`)).ads.map((r: { ad_id: string; clicks: number }) => [r.ad_id, r.clicks])).to.deep.equal([['x', 6]]);
      });

      it('counts distinct users as a union over the window (a user counted twice is one user), within the sketch error for many', async () => {
        const id = await createCampaign(t);
        await postImpression(t, impression(id, 'u1'));
        clock.advance(TTL); // u1 counts again, in another 10-minute sketch
        await postImpression(t, impression(id, 'u1'));
        expect(await analytics(t, id, '1h')).to.deep.include({ impressions: 2, unique_users: 1 });
        const users = 5000;
        for (let i = 0; i < users; i += 1000) await postImpression(t, Array.from({ length: 1000 }, (_, k) => impression(id, `user-${i + k}`)));
        const a = await analytics(t, id, '1h');
        expect(a.impressions).to.equal(users + 2);
        // Memory: 2^12 registers (±1.63 %); Redis: 2^14 (±0.81 %). Either within 5 %.
        expect(a.unique_users).to.be.within(0.95 * (users + 1), 1.05 * (users + 1));
      });

      it('drops repeated clicks of one user (or IP) on one ad within CLICK_DEDUP_TTL, across nodes when shared', async () => {
        const a = await node({ clickTtlMs: TTL });
        const b = backend.shared ? await node({ clickTtlMs: TTL }) : a;
        const id = await createCampaign(a);
        expect((await a.request('POST', `${API}/clicks`, click(id, 'ad-a', { user_id: 'u1' }))).body.counted).to.equal(true);
        expect((await b.request('POST', `${API}/clicks`, click(id, 'ad-b', { user_id: 'u1' }))).body.counted, 'another ad').to.equal(true);
        clock.advance(TTL - 1);
        expect((await b.request('POST', `${API}/clicks`, click(id, 'ad-a', { user_id: 'u1' }))).body).to.include({ counted: false, duplicate: true });
        clock.advance(1);
        expect((await a.request('POST', `${API}/clicks`, click(id, 'ad-a', { user_id: 'u1' }))).body.counted).to.equal(true);
        const ips = await b.request('POST', `${API}/clicks`, [click(id, 'ad-a', { ip_address: '203.0.113.9' }), click(id, 'ad-a', { ip_address: '203.0.113.9' }), click(id, 'ad-a'), click(id, 'ad-a')]);
        expect(ips.body).to.deep.include({ counted: 3, duplicates: 1, bot_filtered: 0, rejected: 0 });
        expect(await analytics(a, id, '1h')).to.deep.include({ clicks: 6, duplicate_clicks: 2, ctr: 0, raw_impressions: 0 });
      });
    });

    describe('impression timestamp', () => {
      const at = (ms: number): string => new Date(ms).toISOString();

      it('counts an impression of 30 minutes ago in the minute it happened: series, windows and analytics (across nodes when shared)', async () => {
        const other = backend.shared ? await node() : t;
        const id = await createCampaign(t, { start_time: '2026-01-01T00:00:00Z' });
        const t0 = clock.now(); // 2026-01-15T12:00:00Z
        clock.set(t0 + 5_000);
        expect((await postImpression(t, { ...impression(id, 'u1'), timestamp: at(t0 - 30 * MINUTE + 5_000) })).body.counted).to.equal(true);
        const res = await other.request('GET', `${API}/campaigns/${id}/timeseries?interval=minute&from=2026-01-15T11:29:00Z&to=2026-01-15T11:32:00Z`);
        expect(res.body.buckets).to.deep.equal([
          { start: '2026-01-15T11:29:00.000Z', impressions: 0, clicks: 0 },
          { start: '2026-01-15T11:30:00.000Z', impressions: 1, clicks: 0 },
          { start: '2026-01-15T11:31:00.000Z', impressions: 0, clicks: 0 },
        ]);
        const now = await other.request('GET', `${API}/campaigns/${id}/timeseries?interval=minute&from=2026-01-15T12:00:00Z&to=2026-01-15T12:01:00Z`);
        expect(now.body.buckets, 'not in the minute it arrived').to.deep.equal([{ start: '2026-01-15T12:00:00.000Z', impressions: 0, clicks: 0 }]);
        // last_hour holds it through the 59th minute after its own minute (11:30), not after its arrival.
        clock.set(t0 + 30 * MINUTE - 1);
        expect(await stats(other, id)).to.include({ last_hour: 1, last_day: 1, total: 1 });
        expect((await other.request('GET', `${API}/campaigns/${id}/analytics?window=1h`)).body).to.include({ impressions: 1 });
        clock.set(t0 + 30 * MINUTE);
        expect(await stats(other, id)).to.include({ last_hour: 0, last_day: 1, total: 1 });
        expect((await other.request('GET', `${API}/campaigns/${id}/analytics?window=1h`)).body).to.include({ impressions: 0 });
      });

      it('dedupes on arrival order and time: an earlier timestamp arriving later is the duplicate, and the TTL runs from arrival', async () => {
        const id = await createCampaign(t);
        const t0 = clock.now();
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
        clock.set(t0 + 1);
        expect((await postImpression(t, { ...impression(id, 'u1'), timestamp: at(t0 - 20 * MINUTE) })).body, 'happened first, arrived second').to.include({ counted: false, duplicate: true });
        expect((await postImpression(t, { ...impression(id, 'u2'), timestamp: at(t0 - 20 * MINUTE) })).body.counted).to.equal(true);
        clock.set(t0 + 1 + TTL - 1);
        expect((await postImpression(t, impression(id, 'u2'))).body.counted, 'TTL − 1 ms after its arrival').to.equal(false);
        clock.set(t0 + 1 + TTL);
        expect((await postImpression(t, impression(id, 'u2'))).body.counted, 'TTL after its arrival').to.equal(true);
      });

      it('takes a timestamp up to CLICK_MAX_SKEW (1 h) from the clock either way and refuses 1 ms beyond; a future one counts now', async () => {
        const id = await createCampaign(t, { start_time: '2026-01-01T00:00:00Z' });
        const t0 = clock.now();
        expect((await postImpression(t, { ...impression(id, 'u1'), timestamp: at(t0 - HOUR) })).body.counted).to.equal(true);
        expect((await postImpression(t, { ...impression(id, 'u2'), timestamp: at(t0 + HOUR) })).body.counted).to.equal(true);
        const old = await postImpression(t, { ...impression(id, 'u3'), timestamp: at(t0 - HOUR - 1) });
        expectError(old, 400);
        expect(old.body.error).to.equal('field "timestamp" is older than the allowed skew of 3600 s from the server\'s clock (CLICK_MAX_SKEW)');
        expectError(await postImpression(t, { ...impression(id, 'u4'), timestamp: at(t0 + HOUR + 1) }), 400);
        const batch = await postImpression(t, [{ ...impression(id, 'u5'), timestamp: at(t0 + HOUR + 1) }, impression(id, 'u6')]);
        expect(batch.body).to.deep.include({ counted: 1, rejected: 1 });
        const minute = await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=minute&from=2026-01-15T12:00:00Z&to=2026-01-15T12:01:00Z`);
        expect(minute.body.buckets[0].impressions, 'the future one and u6 count now').to.equal(2);
        expect((await stats(t, id)).total).to.equal(3);
      });

      it('refuses (409) an impression whose timestamp is before the campaign start, even when it arrives after', async () => {
        const start = clock.now() - 10 * MINUTE;
        const id = await createCampaign(t, { start_time: new Date(start).toISOString() });
        expectError(await postImpression(t, { ...impression(id, 'u1'), timestamp: at(start - 1) }), 409);
        expect((await postImpression(t, { ...impression(id, 'u1'), timestamp: at(start) })).body.counted).to.equal(true);
      });
    });

    describe('click_id', () => {
      const click = (campaignId: string, clickId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ campaign_id: campaignId, ad_id: 'ad-a', click_id: clickId, ...extra });
      const clicks = async (on: NodeApp, id: string): Promise<number> => (await on.request('GET', `${API}/campaigns/${id}/analytics?window=30d`)).body.clicks;

      it('answers a retry with the same click_id with its first outcome, flagged as a replay, and counts it once for a day (across a node restart when shared)', async () => {
        const a = await node({ clickTtlMs: TTL });
        const id = await createCampaign(a);
        const t0 = clock.now();
        const c1 = click(id, 'c-1', { user_id: 'u1' });
        const c2 = click(id, 'c-2', { user_id: 'u1' });
        const first = await a.request('POST', `${API}/clicks`, c1);
        expect(first.body).to.deep.equal({ message: 'click counted', counted: true });
        expect(first.headers.get('idempotent-replayed')).to.equal(null);
        expect((await a.request('POST', `${API}/clicks`, c2)).body).to.include({ counted: false, duplicate: true });
        let b = a;
        if (backend.shared) {
          // A node restarted: what it remembers lives in Redis.
          await a.close();
          nodes = nodes.filter((n) => n !== a);
          b = await node({ clickTtlMs: TTL });
        }
        clock.advance(TTL); // past the click dedupe window: only the click ids stop a recount
        const retry = await b.request('POST', `${API}/clicks`, c1);
        expect(retry.headers.get('idempotent-replayed')).to.equal('true');
        expect(retry.body).to.include({ counted: true, replayed: true });
        const batch = await b.request('POST', `${API}/clicks`, [c1, c2, click(id, 'c-3')]);
        expect(batch.headers.get('idempotent-replayed'), 'a batch flags its items, not the answer').to.equal(null);
        expect(batch.body).to.deep.equal(REPLAYS_AND_A_NEW_ONE);
        expect(await clicks(b, id)).to.equal(2);
        clock.set(t0 + DAY - 1);
        expect((await b.request('POST', `${API}/clicks`, c1)).body, 'a day − 1 ms on, still a replay').to.include({ counted: true, replayed: true });
        clock.set(t0 + DAY);
        expect((await b.request('POST', `${API}/clicks`, c1)).body, 'a day on, the id is forgotten').to.deep.equal({ message: 'click counted', counted: true });
        expect(await clicks(b, id)).to.equal(3);
      });

      it('remembers click ids per campaign, and never a bot click', async () => {
        const id = await createCampaign(t);
        const other = await createCampaign(t);
        expect((await t.request('POST', `${API}/clicks`, click(id, 'x'))).body.counted).to.equal(true);
        expect((await t.request('POST', `${API}/clicks`, click(other, 'x'))).body, 'another campaign').to.deep.equal({ message: 'click counted', counted: true });
        expect((await t.request('POST', `${API}/clicks`, click(id, 'bot', { user_agent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' }))).body).to.include({ bot_filtered: true });
        expect((await t.request('POST', `${API}/clicks`, click(id, 'bot'))).body, 'a bot click is not remembered').to.deep.equal({ message: 'click counted', counted: true });
      });
    });

    if (backend.shared) {
      describe('stateless nodes', () => {
        it('serves a campaign created on one node from another, with one dedupe window for both', async () => {
          const other = await node();
          const id = await createCampaign(t);
          expect((await other.request('GET', `${API}/campaigns/${id}`)).body.id).to.equal(id);
          expect((await postImpression(other, impression(id, 'u1'))).body.counted).to.equal(true);
          expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(false);
          expect((await stats(other, id)).total).to.equal(1);
          expect((await stats(t, id)).total).to.equal(1);
          const listed = await other.request('GET', `${API}/campaigns`);
          expect(listed.body.campaigns.map((c: { id: string }) => c.id)).to.deep.equal([id]);
        });

        it('keeps no actor for ids that name no campaign (after the next tick)', async () => {
          const id = await createCampaign(t);
          await postImpression(t, impression(id, 'u1'));
          for (let i = 0; i < 20; i++) expectError(await postImpression(t, impression(`ghost-${i}`, 'u1')), 404);
          expectError(await t.request('GET', `${API}/campaigns/ghost-x/stats`), 404);
          const known = (): string[] => [...t.system.registry.getSnapshot().context.campaigns.keys()];
          t.system.registry.send({ type: 'tick', at: clock.now() });
          expect(known()).to.deep.equal([id]);
        });
      });
    }
  });
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
