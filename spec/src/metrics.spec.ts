import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import sinon from 'sinon';
import type { DeadLetterReport, RegistryDescription } from '../../actors/registry/registry.js';
import { DESCRIBE_PAGE, describeTree, Metrics, type DeadLetterSource, type MetricsSource } from '../../src/metrics.js';

const TREE: RegistryDescription = {
  campaigns: 3,
  suspended: 1,
  restarts: 4,
  children: [
    { id: 'a', actorId: 'campaign:a', total: 5, dedupeEntries: 10, bytes: 100, restarts: 1, suspended: false },
    { id: 'b', actorId: 'campaign:b', total: 1, dedupeEntries: 20, bytes: 200, restarts: 0, suspended: false },
    { id: 'c', actorId: 'campaign:c', total: 0, dedupeEntries: 3, bytes: 0, restarts: 3, suspended: true },
  ],
};

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Metrics over a fixed actor tree, without the process's own series. */
function quietMetrics(): Metrics {
  return new Metrics({ source: { describe: sinon.fake.resolves(TREE) }, processMetrics: false });
}

describe('Metrics', () => {
  it('asks the actors once per scrape, whatever the number of gauges fed from it', async () => {
    const describe = sinon.fake.resolves(TREE);
    const metrics = new Metrics({ source: { describe }, processMetrics: false });
    const { text } = await metrics.scrape();
    expect(describe.callCount).to.equal(1);
    expect(value(text, 'impression_counter_campaigns')).to.equal(3);
    expect(value(text, 'impression_counter_campaign_actors')).to.equal(2);
    expect(value(text, 'impression_counter_campaigns_suspended')).to.equal(1);
    expect(value(text, 'impression_counter_dedupe_keys')).to.equal(33);
    expect(value(text, 'impression_counter_state_bytes')).to.equal(300);
    expect(value(text, 'impression_counter_campaign_restarts_total')).to.equal(4);
    await metrics.scrape();
    expect(describe.callCount, 'a new scrape asks again').to.equal(2);
  });

  it('walks the tree a page at a time, yielding between pages, and sums every page', async () => {
    const campaigns = DESCRIBE_PAGE * 2 + 500;
    const pages: { after?: number; limit?: number }[] = [];
    let busy = false;
    const source: MetricsSource = {
      describe: async (page) => {
        expect(busy, 'one page at a time').to.equal(false);
        busy = true;
        pages.push(page);
        const after = page.after ?? 0;
        const end = Math.min(campaigns, after + (page.limit ?? Infinity));
        const children = Array.from({ length: end - after }, (_, k) => ({
          id: `c${after + k}`,
          actorId: `campaign:c${after + k}`,
          total: 1,
          dedupeEntries: 2,
          bytes: 3,
          restarts: 0,
          suspended: false,
        }));
        busy = false;
        return { campaigns, suspended: 1, restarts: 7, children, next: end < campaigns ? end : undefined };
      },
    };
    // Queued before the walk starts: it runs at the first yield, after page one and before page two.
    let pagesWhenOthersRan = -1;
    setImmediate(() => (pagesWhenOthersRan = pages.length));
    const tree = await describeTree(source, 3);
    expect(pagesWhenOthersRan, 'the event loop turned between pages').to.equal(1);
    expect(pages).to.deep.equal([
      { after: 0, limit: DESCRIBE_PAGE },
      { after: DESCRIBE_PAGE, limit: DESCRIBE_PAGE },
      { after: 2 * DESCRIBE_PAGE, limit: DESCRIBE_PAGE },
    ]);
    expect(tree).to.deep.include({ campaigns, suspended: 1, restarts: 7, dedupeKeys: 2 * campaigns, bytes: 3 * campaigns });
    expect(tree.children.map((c) => c.id)).to.deep.equal(['c0', 'c1', 'c2']);
  });

  it('never asks the actors outside a scrape', async () => {
    const describe = sinon.fake.resolves(TREE);
    const metrics = new Metrics({ source: { describe }, processMetrics: false });
    metrics.impressions.add('counted', 10);
    metrics.observeRequest('POST', '/api/v1/impressions', 200, 0.001);
    expect(describe.callCount).to.equal(0);
  });

  it('keeps the last figures when the actors do not answer, rather than failing the scrape', async () => {
    const describe = sinon.stub();
    describe.onFirstCall().resolves(TREE);
    describe.onSecondCall().rejects(new Error('timeout'));
    const metrics = new Metrics({ source: { describe }, processMetrics: false });
    await metrics.scrape();
    const { text } = await metrics.scrape();
    expect(value(text, 'impression_counter_campaigns')).to.equal(3);
    expect(value(text, 'impression_counter_campaign_restarts_total')).to.equal(4);
  });

  it('counts impression outcomes in bulk', async () => {
    const metrics = quietMetrics();
    metrics.impressions.add('counted', 98);
    metrics.impressions.add('counted');
    metrics.impressions.add('dead_letter', 2);
    const { text } = await metrics.scrape();
    expect(value(text, 'impression_counter_impressions_total{outcome="counted"}')).to.equal(99);
    expect(value(text, 'impression_counter_impressions_total{outcome="rejected",reason="dead_letter"}')).to.equal(2);
  });

  it('writes request latency as a cumulative histogram in seconds', async () => {
    const metrics = quietMetrics();
    for (const seconds of [0.0004, 0.003, 20]) metrics.observeRequest('GET', '/x', 200, seconds);
    const { text } = await metrics.scrape();
    const bucket = (le: string) => value(text, `impression_counter_http_request_duration_seconds_bucket{method="GET",route="/x",le="${le}"}`);
    expect([bucket('0.0005'), bucket('0.001'), bucket('0.005'), bucket('10'), bucket('+Inf')]).to.deep.equal([1, 1, 2, 2, 3]);
    expect(value(text, 'impression_counter_http_request_duration_seconds_count{method="GET",route="/x"}')).to.equal(3);
    expect(value(text, 'impression_counter_http_request_duration_seconds_sum{method="GET",route="/x"}')).to.be.closeTo(20.0034, 1e-9);
    expect(value(text, 'impression_counter_http_requests_total{method="GET",route="/x",status="200"}')).to.equal(3);
    expect(text).to.include('# TYPE impression_counter_http_request_duration_seconds histogram');
  });

  it('records journal fsync times as a histogram in seconds', async () => {
    const metrics = quietMetrics();
    for (const seconds of [0.0003, 0.02]) metrics.journalSynced(seconds);
    const series = ['bucket{le="0.0005"}', 'bucket{le="+Inf"}', 'count'];
    const { text } = await metrics.scrape();
    expect(series.map((s) => value(text, `impression_counter_journal_fsync_seconds_${s}`))).to.deep.equal([1, 2, 2]);
  });

  it('zeroes every series on resetMetrics()', async () => {
    const metrics = quietMetrics();
    metrics.observeRequest('GET', '/x', 200, 0.1);
    metrics.impressions.add('counted', 3);
    metrics.registry.resetMetrics();
    const { text } = await metrics.scrape();
    const series = ['http_requests_total{method="GET",route="/x",status="200"}', 'http_request_duration_seconds_count{method="GET",route="/x"}', 'impressions_total{outcome="counted"}'];
    expect(series.map((s) => value(text, `impression_counter_${s}`))).to.deep.equal([0, 0, 0]);
  });

  it('folds unknown HTTP methods into one "other" series', async () => {
    const metrics = quietMetrics();
    for (const m of ['BREW', 'WHEN', 'GET']) metrics.observeRequest(m, 'unmatched', 404, 0.0001);
    const { text } = await metrics.scrape();
    expect(value(text, 'impression_counter_http_requests_total{method="other",route="unmatched",status="404"}')).to.equal(2);
    expect(value(text, 'impression_counter_http_requests_total{method="GET",route="unmatched",status="404"}')).to.equal(1);
    expect(text).not.to.include('BREW');
  });

  it('counts dead letters the registry reports, until unsubscribed', async () => {
    const emitter = new EventEmitter();
    const source: DeadLetterSource = {
      on(type, handler) {
        emitter.on(type, handler);
        return { unsubscribe: () => emitter.off(type, handler) };
      },
    };
    const metrics = quietMetrics();
    const sub = metrics.watch(source);
    const report = { type: 'dead_letter', campaignId: 'a' } as unknown as DeadLetterReport;
    emitter.emit('dead_letter', report);
    emitter.emit('dead_letter', report);
    sub.unsubscribe();
    emitter.emit('dead_letter', report);
    expect(value((await metrics.scrape()).text, 'impression_counter_dead_letters_total')).to.equal(2);
  });

  it('registers the process metrics on the first scrape, on its own registry only', async () => {
    const a = new Metrics({ source: { describe: sinon.fake.resolves(TREE) } });
    const b = new Metrics({ source: { describe: sinon.fake.resolves(TREE) } });
    expect(await a.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).to.equal(undefined);
    const first = await a.scrape();
    expect(first.text).to.include('nodejs_eventloop_lag_p99_seconds');
    expect((await a.scrape()).text).to.include('process_resident_memory_bytes');
    expect(b.registry.getSingleMetric('nodejs_eventloop_lag_seconds'), 'another app is unaffected').to.equal(undefined);
  });
});
