import { expect } from 'chai';
import { ROUTES } from '../../../src/http/route-table.js';
import type { TestApp } from '../../helpers/app.js';
import { startFullApp } from '../../helpers/full-app.js';
import { API, LONG_AGO } from '../../helpers/http.js';

/** A route's path with its parameters filled in. */
function pathOf(path: string, ids: { campaign: string; ad: string; key: string }): string {
  return path.replace('{id}', ids.campaign).replace('{ad_id}', ids.ad).replace('{key_id}', ids.key);
}

/** Every string in an answer that reads as a date-time. */
function times(value: unknown): string[] {
  if (typeof value === 'string') return /^\d{4}-\d\d-\d\dT/.test(value) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(times);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(times);
  return [];
}

describe('one rule per concern, on every route', () => {
  let t: TestApp;
  const ids = { campaign: '', ad: 'banner-1', key: '' };
  before(async () => {
    t = await startFullApp({ clickTtlMs: 600_000 });
    ids.campaign = (await t.request('POST', `${API}/campaigns`, { name: 'rules', start_time: LONG_AGO })).body.id;
    await t.request('POST', `${API}/campaigns/${ids.campaign}/ads`, { id: ids.ad, name: 'b', image_url: 'https://x.test/i.png', target_url: 'https://x.test/' });
    ids.key = (await t.request('POST', `${API}/keys`, { scopes: ['read'] })).body.id;
  });
  after(() => t.close());

  describe('Location on every 201', () => {
    it('the route table declares Location on every 201 it lists', () => {
      const without = ROUTES.filter((r) => r.answers[201] !== undefined && !(r.answers[201].headers ?? []).includes('Location'));
      expect(without.map((r) => `${r.method} ${r.path}`)).to.deep.equal([]);
    });

    it('a created campaign, ad, key and beacon each answer a Location that names them', async () => {
      const campaign = await t.request('POST', `${API}/campaigns`, { name: 'c' });
      expect(campaign.headers.get('location')).to.equal(`${API}/campaigns/${campaign.body.id}`);
      const ad = await t.request('POST', `${API}/campaigns/${ids.campaign}/ads`, { id: 'new ad', name: 'n', image_url: 'https://x.test/i.png', target_url: 'https://x.test/' });
      expect(ad.status).to.equal(201);
      expect(ad.headers.get('location')).to.equal(`${API}/campaigns/${ids.campaign}/ads/new%20ad`);
      const read = await t.request('GET', ad.headers.get('location')!);
      expect(read.status).to.equal(200);
      const { message, ...registered } = ad.body as Record<string, unknown>;
      expect(message).to.equal('ad registered');
      expect(read.body).to.deep.equal(registered);
      const key = await t.request('POST', `${API}/keys`, { scopes: ['write'] });
      expect(key.headers.get('location')).to.equal(`${API}/keys/${key.body.id}`);
      const beacon = await t.request('POST', `${API}/beacons`, { type: 'impression', campaign_id: ids.campaign, ad_id: 'a', user_id: 'u' });
      expect(beacon.status).to.equal(201);
      expect(beacon.body.url.endsWith(beacon.headers.get('location'))).to.equal(true);
      expect((await t.request('GET', `${API}/campaigns/${ids.campaign}/ads/nope`)).status).to.equal(404);
    });
  });

  describe('query parameters', () => {
    it('every route but /metrics refuses an unknown query parameter with the one wording', async () => {
      const answers: string[] = [];
      for (const route of ROUTES) {
        const res = await t.request(route.method.toUpperCase(), `${pathOf(route.path, ids)}?bogus=1`);
        answers.push(`${route.method} ${route.path} ${res.status} ${res.status === 400 ? res.body.error : ''}`);
      }
      const expected = ROUTES.map((r) => `${r.method} ${r.path} ${r.anyQuery ? '200 ' : '400 unknown query "bogus"'}`);
      expect(answers).to.deep.equal(expected);
      expect(ROUTES.filter((r) => r.anyQuery).map((r) => r.path)).to.deep.equal(['/metrics']);
    });

    it('names a bad query parameter `query "x"`, whichever route and rule', async () => {
      const c = ids.campaign;
      const cases: [string, string][] = [
        [`${API}/campaigns?limit=0`, 'query "limit" is malformed'],
        [`${API}/campaigns?limit=1&limit=2`, 'query "limit" must be a string'],
        [`${API}/campaigns/${c}/ads?cursor=!`, 'query "cursor" is malformed'],
        [`${API}/campaigns/${c}/analytics?window=2h`, 'query "window" must be one of'],
        [`${API}/campaigns/${c}/timeseries?tz=Nowhere/Else`, 'query "tz" is not an IANA time zone'],
        [`${API}/campaigns/${c}/timeseries?from=yesterday`, 'query "from" must be an RFC 3339 date-time'],
        ['/debug/actors?limit=01', 'query "limit" is malformed'],
        ['/debug/events?redact=maybe', 'query "redact" must be one of'],
      ];
      for (const [url, message] of cases) {
        const res = await t.request('GET', url);
        expect(res.status, url).to.equal(400);
        expect(res.body.error, url).to.include(message);
        expect(res.body.error, url).not.to.match(/field "/);
      }
    });

    it('takes limit 1–1000 on every paged list, and refuses 0 and 1001', async () => {
      for (const path of [`${API}/campaigns`, `${API}/campaigns/${ids.campaign}/ads`, `${API}/ads`, `${API}/ads/analytics`]) {
        for (const [limit, status] of [['0', 400], ['1', 200], ['1000', 200], ['1001', 400], ['0100', 400]] as const) {
          expect((await t.request('GET', `${path}?limit=${limit}`)).status, `${path}?limit=${limit}`).to.equal(status);
        }
      }
    });
  });

  it('answers every time in UTC with milliseconds, and with the zone offset (and milliseconds) only when a tz was asked for', async () => {
    const c = ids.campaign;
    await t.request('POST', `${API}/impressions`, { campaign_id: c, user_id: 'u1', ad_id: ids.ad });
    const utc: unknown[] = [];
    for (const url of [`${API}/campaigns`, `${API}/campaigns/${c}`, `${API}/campaigns/${c}/ads`, `${API}/ads`, `${API}/keys`, `${API}/campaigns/${c}/timeseries?interval=minute`, `${API}/campaigns/${c}/timeseries?interval=day`]) {
      utc.push((await t.request('GET', url)).body);
    }
    const csv = await t.request('GET', `${API}/campaigns/${c}/timeseries?interval=hour&format=csv`);
    const found = [...times(utc), ...String(csv.body).split('\n').slice(1, -1).map((line) => line.split(',')[0])];
    expect(found.length).to.be.greaterThan(30);
    for (const time of found) expect(time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const zoned = times((await t.request('GET', `${API}/campaigns/${c}/timeseries?interval=hour&tz=Asia/Kolkata`)).body);
    expect(zoned.length).to.be.greaterThan(20);
    for (const time of zoned) expect(time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30$/);
  });

  it('answers the same outcome fields for impressions and clicks, single and batch, through the fast lane and Koa', async () => {
    const c = ids.campaign;
    const shape = (body: Record<string, unknown>): string[] => Object.keys(body).filter((k) => k !== 'message').sort();
    const single = async (path: string, item: object): Promise<string[]> => shape((await t.request('POST', path, item)).body);
    const outcomes = async (path: string, kind: 'impression' | 'click', n: string): Promise<string[][]> => {
      const item = (extra: object) => ({ campaign_id: c, ad_id: ids.ad, user_id: `${kind}-${n}`, ...extra });
      const id = kind === 'impression' ? 'impression_id' : 'click_id';
      return [
        await single(path, item({ [id]: `${n}-1` })),
        await single(path, item({})),
        await single(path, item({ [id]: `${n}-1` })),
        await single(path, item({ user_id: `${kind}-${n}-bot`, user_agent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' })),
      ];
    };
    const impressions = await outcomes(`${API}/impressions`, 'impression', 'fast');
    expect(impressions).to.deep.equal([['counted'], ['counted', 'duplicate'], ['counted', 'replayed'], ['bot_filtered', 'counted']]);
    expect(await outcomes(`${API}/impressions/`, 'impression', 'koa')).to.deep.equal(impressions);
    expect(await outcomes(`${API}/clicks`, 'click', 'one')).to.deep.equal(impressions);

    const batch = async (path: string, kind: string): Promise<unknown> => {
      const item = { campaign_id: c, ad_id: ids.ad, user_id: `${kind}-batch` };
      const body = (await t.request('POST', path, [item, item, { ...item, campaign_id: 'missing' }])).body;
      return { summary: shape({ ...body, results: undefined }), results: body.results.map(shape) };
    };
    const fast = await batch(`${API}/impressions`, 'fast');
    expect(fast).to.deep.equal({ summary: ['bot_filtered', 'counted', 'duplicates', 'rejected', 'replayed', 'results'], results: [['counted'], ['counted', 'duplicate'], ['code', 'error']] });
    expect(await batch(`${API}/impressions/`, 'koa')).to.deep.equal(fast);
    expect(await batch(`${API}/clicks`, 'click')).to.deep.equal(fast);
  });
});
