import { expect } from 'chai';
import sinon from 'sinon';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { FIGURES_PAGE } from '../../../src/http/campaigns.js';
import { CAMPAIGNS_PER_REQUEST } from '../../../src/use-cases/campaigns.js';
import { API, createCampaign, expectError, impression, listAll, postImpression, stats } from '../../helpers/http.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('campaigns API', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp();
  });
  afterEach(async () => {
    sinon.restore();
    await t.close();
  });

  const create = (body: unknown) => t.request('POST', `${API}/campaigns`, body);

  describe('POST /campaigns', () => {
    it('answers 201 with a Location header and {id, name, start_time, message}', async () => {
      const res = await create({ name: 'spring sale', start_time: '2026-03-01T09:30:00Z' });
      expect(res.status).to.equal(201);
      expect(res.body.id).to.be.a('string').and.not.equal('');
      expect(res.body).to.include({ name: 'spring sale', start_time: '2026-03-01T09:30:00.000Z' });
      expect(res.body.message).to.be.a('string').and.not.equal('');
      expect(res.headers.get('location')).to.equal(`${API}/campaigns/${encodeURIComponent(res.body.id)}`);

      const fetched = await t.request('GET', res.headers.get('location') as string);
      expect(fetched.status).to.equal(200);
      expect(fetched.body).to.include({ id: res.body.id, name: 'spring sale', start_time: '2026-03-01T09:30:00.000Z' });
    });

    it('gives every campaign its own id', async () => {
      const a = await create({ name: 'same' });
      const b = await create({ name: 'same' });
      expect(a.body.id).not.to.equal(b.body.id);
    });

    it('defaults start_time to now', async () => {
      const before = Date.now();
      const res = await create({ name: 'now' });
      const after = Date.now();
      expect(res.status).to.equal(201);
      const start = Date.parse(res.body.start_time);
      expect(res.body.start_time).to.equal(new Date(start).toISOString());
      expect(start).to.be.within(before, after);
    });

    it('defaults start_time to the injected clock (sinon-faked Date)', async () => {
      const clock = sinon.useFakeTimers({ now: Date.UTC(2026, 4, 6, 7, 8, 9, 10), toFake: ['Date'] });
      try {
        const res = await create({ name: 'pinned' });
        expect(res.body.start_time).to.equal('2026-05-06T07:08:09.010Z');
      } finally {
        clock.restore();
      }
    });

    it('accepts a start_time in the past and in the future', async () => {
      expect((await create({ name: 'past', start_time: '1999-12-31T23:59:59Z' })).body.start_time).to.equal('1999-12-31T23:59:59.000Z');
      expect((await create({ name: 'future', start_time: '2099-01-01T00:00:00Z' })).body.start_time).to.equal('2099-01-01T00:00:00.000Z');
    });

    it('normalizes offsets and fractions to UTC ISO 8601', async () => {
      const cases: [string, string][] = [
        ['2026-03-01T12:00:00+02:00', '2026-03-01T10:00:00.000Z'],
        ['2026-03-01T00:30:00-05:30', '2026-03-01T06:00:00.000Z'],
        ['2026-03-01T12:00:00.250Z', '2026-03-01T12:00:00.250Z'],
        ['2026-03-01t12:00:00z', '2026-03-01T12:00:00.000Z'],
        ['2024-02-29T23:00:00-01:00', '2024-03-01T00:00:00.000Z'],
      ];
      for (const [given, shown] of cases) {
        const res = await create({ name: 'tz', start_time: given });
        expect(res.status, given).to.equal(201);
        expect(res.body.start_time, given).to.equal(shown);
      }
    });

    it('accepts a name of 1 and of 200 characters', async () => {
      expect((await create({ name: 'x' })).status).to.equal(201);
      const long = 'n'.repeat(200);
      const res = await create({ name: long });
      expect(res.status).to.equal(201);
      expect(res.body.name).to.equal(long);
    });

    it('rejects a name of 201 characters with 400 naming "name"', async () => {
      expectError(await create({ name: 'n'.repeat(201) }), 400, 'name');
    });

    it('rejects an empty name with 400 naming "name"', async () => {
      expectError(await create({ name: '' }), 400, 'name');
    });

    it('rejects a missing or non-string name with 400 naming "name"', async () => {
      expectError(await create({}), 400, 'name');
      expectError(await create({ name: 42 }), 400, 'name');
      expectError(await create({ name: null }), 400, 'name');
    });

    for (const bad of ['2026-02-30T00:00:00Z', '2026-01-31T12:00:00', 'garbage', '2026-01-31', '2026-13-01T00:00:00Z', '']) {
      it(`rejects start_time ${JSON.stringify(bad)} with 400 naming start_time`, async () => {
        expectError(await create({ name: 'x', start_time: bad }), 400, 'start_time');
      });
    }

    it('rejects a non-string start_time with 400 naming start_time', async () => {
      expectError(await create({ name: 'x', start_time: 1767225600000 }), 400, 'start_time');
    });

    it('never fails on "start_time": null: either defaults it or rejects it with 400, and listing keeps working', async () => {
      const res = await create({ name: 'x', start_time: null });
      if (res.status === 201) {
        expect(Number.isNaN(Date.parse(res.body.start_time)), JSON.stringify(res.body)).to.equal(false);
      } else {
        expectError(res, 400, 'start_time');
      }
      expect((await t.request('GET', `${API}/campaigns`)).status).to.equal(200);
    });

    it('rejects an unknown field with 400 naming the field', async () => {
      expectError(await create({ name: 'x', budget: 10 }), 400, '"budget"');
      expectError(await create({ name: 'x', id: 'mine' }), 400, '"id"');
    });

    it('rejects a body that is an array with 400', async () => {
      expectError(await create([{ name: 'x' }]), 400);
    });
  });

  describe('GET /campaigns', () => {
    it('lists campaigns with a null next_cursor when everything fits', async () => {
      const a = await createCampaign(t, { name: 'a' });
      const b = await createCampaign(t, { name: 'b' });
      const res = await t.request('GET', `${API}/campaigns`);
      expect(res.status).to.equal(200);
      expect(res.body.campaigns.map((c: { id: string }) => c.id)).to.deep.equal([a, b]);
      expect(res.body.campaigns[0]).to.include({ id: a, name: 'a', start_time: '2000-01-01T00:00:00.000Z' });
      expect(res.body.next_cursor).to.equal(null);
    });

    it('with q: pages through exactly the campaigns whose name contains it, ignoring case, in creation order', async () => {
      const names = Array.from({ length: 23 }, (_, i) => (i % 3 === 0 ? `Spring SALE ${i}` : `winter ${i}`));
      for (const name of names) await createCampaign(t, { name });
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.request('GET', `${API}/campaigns?q=sale&limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
        expect(res.status).to.equal(200);
        expect(res.body.campaigns.length).to.be.at.most(3);
        seen.push(...res.body.campaigns.map((c: { name: string }) => c.name));
        cursor = res.body.next_cursor;
      } while (cursor !== null);
      expect(seen).to.deep.equal(names.filter((n) => n.toLowerCase().includes('sale')));
      expect((await t.request('GET', `${API}/campaigns?q=nothing`)).body).to.deep.equal({ campaigns: [], next_cursor: null });
      expectError(await t.request('GET', `${API}/campaigns?q=`), 400, 'q');
      expectError(await t.request('GET', `${API}/campaigns?q=${'x'.repeat(201)}`), 400, 'q');
    });

    it(`with q: looks at ${CAMPAIGNS_PER_REQUEST} campaigns per request at most, and answers the cursor where it stopped`, async () => {
      for (let i = 0; i < CAMPAIGNS_PER_REQUEST + 1; i++) await t.counter.campaigns.create({ name: i === CAMPAIGNS_PER_REQUEST ? 'the needle' : `hay ${i}` });
      const first = await t.request('GET', `${API}/campaigns?q=needle`);
      expect(first.body.campaigns).to.deep.equal([]);
      expect(first.body.next_cursor).to.be.a('string');
      const second = await t.request('GET', `${API}/campaigns?q=needle&cursor=${first.body.next_cursor as string}`);
      expect(second.body.campaigns.map((c: { name: string }) => c.name)).to.deep.equal(['the needle']);
      expect(second.body.next_cursor).to.equal(null);
    });

    it(`GET /ads looks at ${CAMPAIGNS_PER_REQUEST} campaigns per request at most too, and answers the cursor where it stopped`, async () => {
      let needle = '';
      for (let i = 0; i < CAMPAIGNS_PER_REQUEST + 1; i++) needle = (await t.counter.campaigns.create({ name: `c ${i}` })).id;
      const ad = { id: 'banner', name: 'Banner', image_url: 'https://cdn.example.com/b.png', target_url: 'https://example.com/' };
      expect((await t.request('POST', `${API}/campaigns/${needle}/ads`, ad)).status).to.equal(201);
      const first = await t.request('GET', `${API}/ads`);
      expect(first.body.ads).to.deep.equal([]);
      expect(first.body.next_cursor).to.be.a('string');
      const second = await t.request('GET', `${API}/ads?cursor=${first.body.next_cursor as string}`);
      expect(second.body.ads.map((a: { campaign_id: string; id: string }) => [a.campaign_id, a.id])).to.deep.equal([[needle, 'banner']]);
      expect(second.body.next_cursor).to.equal(null);
    });

    it('answers an empty list when there are no campaigns', async () => {
      const res = await t.request('GET', `${API}/campaigns`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ campaigns: [], next_cursor: null });
    });

    it('walks every campaign exactly once, in creation order, with limit and cursor', async () => {
      const created: string[] = [];
      for (let i = 0; i < 23; i++) created.push(await createCampaign(t, { name: `c${i}` }));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor === null ? '?limit=5' : `?limit=5&cursor=${encodeURIComponent(cursor)}`;
        const res = await t.request('GET', `${API}/campaigns${query}`);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.campaigns.length).to.be.within(1, 5);
        seen.push(...res.body.campaigns.map((c: { id: string }) => c.id));
        cursor = res.body.next_cursor;
        pages++;
        expect(pages, 'paging does not end').to.be.at.most(10);
      } while (cursor !== null);
      expect(pages).to.equal(5);
      expect(seen).to.deep.equal(created);
    });

    it('ends exactly on the last page when the count is a multiple of the limit', async () => {
      for (let i = 0; i < 4; i++) await createCampaign(t, { name: `c${i}` });
      const first = await t.request('GET', `${API}/campaigns?limit=2`);
      const second = await t.request('GET', `${API}/campaigns?limit=2&cursor=${first.body.next_cursor}`);
      expect(second.body.campaigns).to.have.length(2);
      expect(second.body.next_cursor).to.equal(null);
    });

    for (const query of ['limit=0', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=', 'limit=10000', 'limit=1&limit=2']) {
      it(`rejects ?${query} with 400 naming limit`, async () => {
        expectError(await t.request('GET', `${API}/campaigns?${query}`), 400, 'limit');
      });
    }

    for (const cursor of ['not-a-cursor', 'cA', '!!!', 'eDU', 'a'.repeat(40)]) {
      it(`rejects cursor ${JSON.stringify(cursor)} with 400 naming cursor`, async () => {
        await createCampaign(t);
        expectError(await t.request('GET', `${API}/campaigns?cursor=${encodeURIComponent(cursor)}`), 400, 'cursor');
      });
    }

    it('with include=figures: adds to each campaign its stats and its last 24 UTC hours, as /stats and /timeseries answer them, with q and cursors', async () => {
      // Date pinned (timers left alone), so that no hour turns between the list and the reads it is compared with.
      sinon.useFakeTimers({ now: Date.UTC(2026, 0, 15, 10, 59, 59), toFake: ['Date'] });
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push(await createCampaign(t, { name: i % 2 === 0 ? `Sale ${i}` : `other ${i}` }));
      for (const [i, id] of ids.entries()) await postImpression(t, Array.from({ length: i }, (_, u) => impression(id, `u${u}`)));
      const seen = await listAll(t, 'q=sale&include=figures&limit=2');
      expect(seen.map((c) => c.name)).to.deep.equal(['Sale 0', 'Sale 2', 'Sale 4', 'Sale 6']);
      const end = Math.floor(Date.now() / HOUR) * HOUR + HOUR;
      const [from, to] = [end - DAY, end].map((ms) => new Date(ms).toISOString());
      for (const c of seen) {
        const id = c.id as string;
        const series = await t.request('GET', `${API}/campaigns/${id}/timeseries?interval=hour&from=${from}&to=${to}`);
        const { last_hour, last_day, total } = await stats(t, id);
        expect(c).to.deep.equal({
          ...(await t.request('GET', `${API}/campaigns/${id}`)).body,
          last_hour,
          last_day,
          total,
          hourly: series.body.buckets.map((b: { impressions: number }) => b.impressions),
        });
        expect(c.hourly).to.have.length(24);
        expect(c.total).to.equal(ids.indexOf(id));
      }
      expect((await t.request('GET', `${API}/campaigns?limit=1`)).body.campaigns[0], 'no figures unless asked').to.have.all.keys('id', 'name', 'start_time', 'created_at');
    });

    it(`with include=figures: lists ${FIGURES_PAGE} campaigns a page at most (a larger limit is a 400), and the default page is ${FIGURES_PAGE}`, async () => {
      for (let i = 0; i <= FIGURES_PAGE; i++) await t.counter.campaigns.create({ name: `c${i}` });
      const first = await t.request('GET', `${API}/campaigns?include=figures`);
      expect(first.body.campaigns).to.have.length(FIGURES_PAGE);
      const rest = await t.request('GET', `${API}/campaigns?include=figures&limit=${FIGURES_PAGE}&cursor=${first.body.next_cursor as string}`);
      expect(rest.body.campaigns.map((c: { name: string }) => c.name)).to.deep.equal([`c${FIGURES_PAGE}`]);
      expect(rest.body.next_cursor).to.equal(null);
      expectError(await t.request('GET', `${API}/campaigns?include=figures&limit=${FIGURES_PAGE + 1}`), 400, `"limit" must be at most ${FIGURES_PAGE} with include=figures`);
      expect((await t.request('GET', `${API}/campaigns?limit=${FIGURES_PAGE + 1}`)).body.campaigns, 'without figures').to.have.length(FIGURES_PAGE + 1);
    });

    it('rejects include other than figures with 400 naming include', async () => {
      for (const query of ['include=', 'include=stats', 'include=figures&include=figures']) expectError(await t.request('GET', `${API}/campaigns?${query}`), 400, 'include');
    });

    it('rejects an unknown query parameter with 400 naming it', async () => {
      expectError(await t.request('GET', `${API}/campaigns?page=2`), 400, '"page"');
      expectError(await t.request('GET', `${API}/campaigns?__proto__=x`), 400, '__proto__');
      expect(({} as any).x).to.equal(undefined);
    });
  });

  describe('GET /campaigns/{id}', () => {
    it('answers 200 with the campaign', async () => {
      const id = await createCampaign(t, { name: 'one', start_time: '2026-01-02T03:04:05Z' });
      const res = await t.request('GET', `${API}/campaigns/${id}`);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ id, name: 'one', start_time: '2026-01-02T03:04:05.000Z' });
    });

    it('answers 404 for an unknown id, naming it', async () => {
      expectError(await t.request('GET', `${API}/campaigns/no-such-campaign`), 404, 'no-such-campaign');
    });
  });

  describe('GET /campaigns/{id}/stats', () => {
    it('answers {campaign_id, last_hour, last_day, total} starting from zero', async () => {
      const id = await createCampaign(t);
      const res = await t.request('GET', `${API}/campaigns/${id}/stats`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ campaign_id: id, last_hour: 0, last_day: 0, total: 0 });
    });

    it('answers 404 for an unknown campaign', async () => {
      expectError(await t.request('GET', `${API}/campaigns/ghost/stats`), 404, 'ghost');
    });
  });

  // Granularity is one minute: at read time t, last_hour counts the minute containing t and the 59
  // before it; last_day that minute and the 1,439 before it. Only Date is faked (never the timers
  // sockets use), so requests run for real while the service's clock is pinned.
  describe('stats windows over time (sinon fake Date)', () => {
    const M0 = Math.floor(Date.UTC(2026, 0, 15, 10, 30) / MINUTE); // the minute of the first impression
    const T0 = M0 * MINUTE + 17_345; // 17.345 s into that minute
    let clock: sinon.SinonFakeTimers;

    beforeEach(() => {
      clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
    });
    afterEach(() => clock.restore());

    const at = (ms: number): void => clock.setSystemTime(ms);

    it('drops an impression from last_hour exactly when its minute leaves the hour window', async () => {
      const id = await createCampaign(t);
      expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
      expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 1, total: 1 });

      at((M0 + 60) * MINUTE - 1);
      expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 1, total: 1 });
      at((M0 + 60) * MINUTE);
      expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 1, total: 1 });
    });

    it('drops an impression from last_day exactly when its minute leaves the day window; total never decays', async () => {
      const id = await createCampaign(t);
      await postImpression(t, impression(id, 'u1'));

      at((M0 + 1440) * MINUTE - 1);
      expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 1, total: 1 });
      at((M0 + 1440) * MINUTE);
      expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 0, total: 1 });
      at(T0 + 400 * DAY);
      expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 0, total: 1 });
    });

    it('rolls impressions of different minutes out one by one', async () => {
      const id = await createCampaign(t);
      await postImpression(t, impression(id, 'early'));
      at(T0 + 30 * MINUTE);
      await postImpression(t, impression(id, 'late'));
      at((M0 + 59) * MINUTE);
      await postImpression(t, impression(id, 'latest'));
      expect(await stats(t, id)).to.include({ last_hour: 3, last_day: 3, total: 3 });

      at((M0 + 60) * MINUTE - 1);
      expect(await stats(t, id)).to.include({ last_hour: 3 });
      at((M0 + 60) * MINUTE);
      expect(await stats(t, id)).to.include({ last_hour: 2, last_day: 3 });
      at((M0 + 90) * MINUTE - 1);
      expect(await stats(t, id)).to.include({ last_hour: 2 });
      at((M0 + 90) * MINUTE);
      expect(await stats(t, id)).to.include({ last_hour: 1 });
      at((M0 + 119) * MINUTE - 1);
      expect(await stats(t, id)).to.include({ last_hour: 1 });
      at((M0 + 119) * MINUTE);
      expect(await stats(t, id)).to.include({ last_hour: 0, last_day: 3, total: 3 });

      at((M0 + 1470) * MINUTE - 1);
      expect(await stats(t, id)).to.include({ last_day: 2 });
      at((M0 + 1470) * MINUTE);
      expect(await stats(t, id)).to.include({ last_day: 1 });
      at((M0 + 1499) * MINUTE);
      expect(await stats(t, id)).to.deep.equal({ campaign_id: id, last_hour: 0, last_day: 0, total: 3 });
    });

    it("include=figures: an impression is in its UTC hour's place of hourly, moving one place an hour, until that hour is 24 hours old", async () => {
      const id = await createCampaign(t);
      await postImpression(t, impression(id, 'u1'));
      const hour = Math.floor(T0 / HOUR) * HOUR; // 10:00, the impression's hour
      const listed = async (): Promise<{ hourly: number[]; last_day: number; total: number }> => (await t.request('GET', `${API}/campaigns?include=figures`)).body.campaigns[0];
      const only = (place: number): number[] => Array.from({ length: 24 }, (_, i) => (i === place ? 1 : 0));
      expect((await listed()).hourly).to.deep.equal(only(23));
      at(hour + HOUR - 1);
      expect((await listed()).hourly).to.deep.equal(only(23));
      at(hour + HOUR);
      expect((await listed()).hourly).to.deep.equal(only(22));
      at(hour + DAY - 1);
      expect((await listed()).hourly).to.deep.equal(only(0));
      at(hour + DAY);
      expect(await listed()).to.deep.include({ hourly: only(-1), last_hour: 0, last_day: 1, total: 1 });
    });

    it('counts again in fresh windows after a long idle gap', async () => {
      const id = await createCampaign(t);
      await postImpression(t, impression(id, 'u1'));
      at(T0 + 3 * DAY);
      expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
      expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 1, total: 2 });
    });
  });
});
