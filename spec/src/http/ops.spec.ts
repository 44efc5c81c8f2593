import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { pino } from 'pino';
import { Readiness } from '../../../src/health.js';
import { startingAnswer } from '../../../src/http/ops.js';
import { Metrics } from '../../../src/metrics.js';
import { startTestApp, useTestApp, type TestApp } from '../../helpers/app.js';
import { API, createCampaign, impression, postImpression } from '../../helpers/http.js';

/** The value of one sample line of the exposition text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(t: TestApp): Promise<string> {
  const res = await fetch(`${t.baseUrl}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('operations endpoints', () => {
  describe('GET /metrics', () => {
    const t = useTestApp();

    it('counts requests by method, route template and status, and times them in seconds', async () => {
      const id = await createCampaign(t);
      await t.request('GET', `${API}/campaigns/${id}/stats`);
      await t.request('GET', `${API}/campaigns/nope/stats`);
      await t.request('GET', '/no/such/path');
      const text = await scrape(t);
      expect(sample(text, 'impression_counter_http_requests_total{method="POST",route="/api/v1/campaigns",status="201"}')).to.equal(1);
      expect(sample(text, 'impression_counter_http_requests_total{method="GET",route="/api/v1/campaigns/:id/stats",status="200"}')).to.equal(1);
      expect(sample(text, 'impression_counter_http_requests_total{method="GET",route="/api/v1/campaigns/:id/stats",status="404"}')).to.equal(1);
      expect(sample(text, 'impression_counter_http_requests_total{method="GET",route="unmatched",status="404"}')).to.equal(1);
      expect(text, 'never the raw path').not.to.include(id);
      expect(sample(text, 'impression_counter_http_request_duration_seconds_count{method="GET",route="/api/v1/campaigns/:id/stats"}')).to.equal(2);
      const seconds = sample(text, 'impression_counter_http_request_duration_seconds_sum{method="GET",route="/api/v1/campaigns/:id/stats"}')!;
      expect(seconds).to.be.greaterThan(0).and.below(5);
    });

    it('counts impressions by outcome, and rejected ones by reason', async () => {
      const id = await createCampaign(t);
      const future = await createCampaign(t, { start_time: '2999-01-01T00:00:00Z' });
      await postImpression(t, impression(id, 'u1'));
      await postImpression(t, impression(id, 'u1'));
      await postImpression(t, impression('missing', 'u1'));
      await postImpression(t, impression(future, 'u1'));
      await postImpression(t, { campaign_id: id });
      await postImpression(t, [impression(id, 'u2'), impression(id, 'u2'), impression('missing', 'u3'), { bad: 1 }, impression(future, 'u4')]);
      const once = { ...impression(id, 'u5'), impression_id: 'imp-5' };
      await postImpression(t, once);
      await postImpression(t, once);
      await postImpression(t, [once, once]);
      const text = await scrape(t);
      // Retries are not counted; "unavailable" is present from the start.
      const counts = { counted: 3, replayed: 3, duplicate: 2, 'rejected/invalid': 2, 'rejected/not_found': 2, 'rejected/not_started': 2, 'rejected/unavailable': 0 };
      expect(outcomeCounts(text, 'impressions')).to.deep.include(counts);
    });

    it('counts clicks by outcome: counted, duplicate, replayed and bot_filtered apart, rejected ones by reason', async () => {
      const app = await startTestApp({ clickTtlMs: 60_000 });
      try {
        const id = await createCampaign(app);
        const future = await createCampaign(app, { start_time: '2999-01-01T00:00:00Z' });
        const click = (campaign: string, extra: Record<string, unknown> = {}) => ({ campaign_id: campaign, ad_id: 'ad-1', ...extra });
        const post = (body: unknown) => app.request('POST', `${API}/clicks`, body);
        await post(click(id, { user_id: 'u1', click_id: 'k-1' }));
        await post(click(id, { user_id: 'u1', click_id: 'k-1' }));
        await post(click(id, { user_id: 'u1' }));
        await post(click(id, { user_agent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' }));
        await post(click('missing'));
        await post({ campaign_id: id });
        await post([click(id, { user_id: 'u2' }), click(id, { user_id: 'u2' }), click(id, { user_id: 'u1', click_id: 'k-1' }), click(future), { bad: 1 }]);
        const text = await scrape(app);
        const counts = { counted: 2, duplicate: 2, replayed: 2, bot_filtered: 1, 'rejected/not_found': 1, 'rejected/not_started': 1, 'rejected/invalid': 2, 'rejected/unavailable': 0 };
        expect(outcomeCounts(text, 'clicks')).to.deep.include(counts);
        expect(sample(text, 'impression_counter_impressions_total{outcome="counted"}'), 'clicks are not impressions').to.equal(0);
      } finally {
        await app.close();
      }
    });

    it('reports live campaign actors, dedupe keys and restarts, gathered at scrape time', async () => {
      const a = await createCampaign(t);
      const b = await createCampaign(t);
      await postImpression(t, [impression(a, 'u1'), impression(a, 'u2'), impression(b, 'u1')]);
      const text = await scrape(t);
      expect(sample(text, 'impression_counter_campaigns')).to.equal(2);
      expect(sample(text, 'impression_counter_campaign_actors')).to.equal(2);
      expect(sample(text, 'impression_counter_campaigns_suspended')).to.equal(0);
      expect(sample(text, 'impression_counter_dedupe_keys')).to.equal(3);
      expect(sample(text, 'impression_counter_campaign_restarts_total')).to.equal(0);
      expect(sample(text, 'impression_counter_state_bytes')).to.be.greaterThan(0);
      expect(text).to.include('# TYPE impression_counter_campaign_restarts_total counter');
    });

    it('sums live keys over every campaign, beyond the first page of the registry', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 2100; i++) ids.push((await t.counter.campaigns.create({ name: `c${i}`, startTime: 0 })).id);
      await postImpression(t, [impression(ids[0], 'u1'), impression(ids[2099], 'u1'), impression(ids[2099], 'u2')]);
      const text = await scrape(t);
      expect(sample(text, 'impression_counter_campaigns')).to.equal(2100);
      expect(sample(text, 'impression_counter_dedupe_keys')).to.equal(3);
    });

    it('follows Prometheus naming: counters end in _total, durations are in _seconds', async () => {
      const text = await scrape(t);
      const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1], type: m[2] }));
      expect(types.length).to.be.greaterThan(5);
      for (const { name, type } of types) {
        expect(name).to.match(/^impression_counter_[a-z_]+$/);
        if (type === 'counter') expect(name, name).to.match(/_total$/);
        if (type === 'histogram') expect(name, name).to.match(/_seconds$/);
      }
    });

    it('adds the default process metrics, including event-loop lag, when the app is given full metrics', async () => {
      const full = await startTestApp({ deps: (_system, counter) => ({ metrics: new Metrics({ source: counter.campaigns }) }) });
      try {
        const text = await scrape(full);
        expect(text).to.include('# TYPE nodejs_eventloop_lag_seconds gauge');
        expect(text).to.include('# TYPE process_cpu_user_seconds_total counter');
        expect(text).to.include('impression_counter_http_requests_total');
      } finally {
        await full.close();
      }
    });
  });

  describe('GET /healthz and GET /readyz', () => {
    let readiness: Readiness;
    beforeEach(() => (readiness = new Readiness('starting')));
    const t = useTestApp({ deps: () => ({ readiness }) });

    it('/healthz answers alive whatever readiness says', async () => {
      for (const res of [await t.request('GET', '/healthz'), (readiness.ready(), await t.request('GET', '/healthz'))]) {
        expect(res.status).to.equal(200);
        expect(res.body).to.deep.equal({ status: 'alive' });
        expect(res.headers.get('cache-control')).to.equal('no-store');
      }
    });

    it('/readyz answers 503 with the reason while unready, and 200 once ready', async () => {
      const starting = await t.request('GET', '/readyz');
      expect(starting.status).to.equal(503);
      expect(starting.body).to.deep.equal({ status: 'unready', reason: 'starting', error: 'not ready: starting', code: 503 });

      readiness.ready();
      const ready = await t.request('GET', '/readyz');
      expect(ready.status).to.equal(200);
      expect(ready.body).to.deep.equal({ status: 'ready' });

      readiness.unready('draining');
      expect((await t.request('GET', '/readyz')).body.reason).to.equal('draining');
    });

    it('answers HEAD too (for load balancers that probe with it)', async () => {
      readiness.ready();
      expect((await t.request('HEAD', '/healthz')).status).to.equal(200);
      expect((await t.request('HEAD', '/readyz')).status).to.equal(200);
    });
  });

  describe('logs', () => {
    let t: TestApp;
    let lines: Record<string, any>[];
    const start = (level: 'info' | 'debug') =>
      startTestApp({
        deps: () => ({ logger: pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, any>) }) }),
      });
    beforeEach(() => {
      lines = [];
    });
    afterEach(() => t.close());

    it('writes nothing per impression at info', async () => {
      t = await start('info');
      const id = await createCampaign(t);
      for (let i = 0; i < 20; i++) await postImpression(t, impression(id, `u${i % 5}`));
      await postImpression(t, impression('missing', 'u1'));
      expect(lines).to.deep.equal([]);
    });

    it('writes one debug line per request, with its request id, route and status', async () => {
      t = await start('debug');
      const id = await createCampaign(t);
      await t.request('POST', `${API}/impressions`, impression(id, 'u1'), { 'x-request-id': 'req-42' });
      const line = lines.find((l) => l.request_id === 'req-42');
      expect(line).to.include({ level: 20, msg: 'request', method: 'POST', route: '/api/v1/impressions', status: 200 });
      expect(line!.ms).to.be.a('number');
    });

    it('logs a failed request at error with its request id (and no internal text to the client)', async () => {
      t = await start('info');
      const id = await createCampaign(t);
      t.counter.campaigns.stats = () => Promise.reject(new Error('internal detail'));
      const res = await t.request('GET', `${API}/campaigns/${id}/stats`, undefined, { 'x-request-id': 'req-500' });
      expect(res.status).to.equal(500);
      expect(JSON.stringify(res.body)).not.to.include('internal detail');
      const line = lines.find((l) => l.msg === 'request failed');
      expect(line).to.include({ level: 50, request_id: 'req-500' });
      expect(line!.err.message).to.equal('internal detail');
    });
  });
});

describe('startingAnswer (the port is bound while state is recovered)', () => {
  async function serve(readiness: Readiness) {
    const server = createServer(startingAnswer(readiness));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { base, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('is alive, unready with its reason, and answers everything else 503 with Retry-After', async () => {
    const s = await serve(new Readiness('recovering'));
    try {
      const alive = await fetch(`${s.base}/healthz`);
      expect(alive.status).to.equal(200);
      expect(await alive.json()).to.deep.equal({ status: 'alive' });
      const ready = await fetch(`${s.base}/readyz`);
      expect(ready.status).to.equal(503);
      expect(await ready.json()).to.include({ status: 'unready', reason: 'recovering', code: 503 });
      const api = await fetch(`${s.base}/api/v1/impressions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(api.status).to.equal(503);
      expect(api.headers.get('retry-after')).to.equal('1');
      expect(await api.json()).to.deep.equal({ error: 'the service is recovering; retry shortly', code: 503 });
    } finally {
      await s.close();
    }
  });
});

/** The samples of `impression_counter_<metric>_total` by outcome, a rejected one as `rejected/<reason>`. */
function outcomeCounts(text: string, metric: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const line = new RegExp(`^impression_counter_${metric}_total\\{outcome="(\\w+)"(?:,reason="(\\w+)")?\\} (\\d+)$`, 'gm');
  for (const [, outcome, reason, value] of text.matchAll(line)) counts[reason === undefined ? outcome : `${outcome}/${reason}`] = Number(value);
  return counts;
}
