import { expect } from 'chai';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { MAX_LIVE_STREAMS, type LiveFigures } from '../../../src/http/live.js';
import { Metrics } from '../../../src/metrics.js';
import { testAppSlot } from '../../helpers/app.js';
import { API, createCampaign, expectError, impression, postImpression } from '../../helpers/http.js';
import { openSse, until, type SseClient } from '../../helpers/sse.js';

const ROOT = 'root-key-for-the-live-spec-0123456789abc';

describe('live figures (GET /api/v1/campaigns/{id}/events)', () => {
  let live: LiveFigures;
  let metrics: Metrics;
  const streams: SseClient[] = [];
  const t = testAppSlot();
  beforeEach(async () => {
    await t.start({
      key: ROOT,
      deps: (_system, counter) => {
        metrics = new Metrics({ source: counter.campaigns, processMetrics: false });
        return { keys: new KeyRing(new MemoryKeyStore(), ROOT), metrics };
      },
    });
    live = t.live;
  });
  afterEach(() => {
    for (const s of streams.splice(0)) s.close();
  });

  const open = async (id: string, token = ROOT): Promise<SseClient> => {
    const s = await openSse(t.baseUrl, `${API}/campaigns/${id}/events?token=${encodeURIComponent(token)}`);
    streams.push(s);
    return s;
  };

  it('sends the figures at once, then each change within the period, and reads nothing while nobody watches', async () => {
    const id = await createCampaign(t);
    expect(live.watching).to.equal(0);
    const s = await open(id);
    expect(s.status).to.equal(200);
    expect(s.headers['content-type']).to.match(/^text\/event-stream/);
    await s.waitFor((r) => r[0], 'the first figures');
    expect(s.records[0]).to.deep.include({ campaign_id: id, total: 0, last_hour: 0, last_day: 0 });
    expect(live.watching).to.equal(1);
    await postImpression(t, [impression(id, 'u1'), impression(id, 'u2'), impression(id, 'u1')]);
    const next = await s.waitFor((r) => r.find((x) => x.total === 2), 'the counted impressions');
    expect(next.day).to.include({ impressions: 2, raw_impressions: 3, duplicates: 1 });
    const count = s.records.length;
    s.close();
    await until(() => live.watching === 0, 'the campaign to be no longer read once its last watcher left');
    expect(count, 'nothing sent while nothing changed').to.equal(2);
  });

  it('shares one read among the pages of a campaign, and refuses a stream past the bound with 429 and a metric', async () => {
    const id = await createCampaign(t);
    const a = await open(id);
    const b = await open(id);
    expect(live.watching).to.equal(1);
    await a.waitFor((r) => r[0], 'a');
    await b.waitFor((r) => r[0], 'b');
    const before = (await metrics.scrape()).text;
    expect(before).to.include('impression_counter_live_streams 2');
    for (let i = 2; i < MAX_LIVE_STREAMS; i++) await open(id);
    const refused = await openSse(t.baseUrl, `${API}/campaigns/${id}/events?token=${ROOT}`);
    expect(refused.status).to.equal(429);
    expect(refused.body.error).to.include('close one and retry');
    expect(refused.headers['retry-after']).to.equal('5');
    expect((await metrics.scrape()).text).to.include('impression_counter_live_streams_refused_total 1');
  });

  it('takes a read key limited to the campaign as ?token=, and refuses other campaigns, unknown ones and bad queries', async () => {
    const id = await createCampaign(t);
    const other = await createCampaign(t);
    const share = await t.request('POST', `${API}/keys`, { scopes: ['read'], campaigns: [id] });
    const key = share.body.key as string;
    expect((await open(id, key)).status).to.equal(200);
    const forbidden = await open(other, key);
    expect(forbidden.status).to.equal(403);
    expect((await open('no-such-campaign')).status).to.equal(404);
    expect((await metrics.scrape()).text, 'a refused stream gives its slot back').to.include('impression_counter_live_streams 1');
    expectError(await t.request('GET', `${API}/campaigns/${id}/events?x=1`), 400, 'x');
    expect((await open(id, 'wrong-key-0123456789')).status).to.equal(401);
  });
});

