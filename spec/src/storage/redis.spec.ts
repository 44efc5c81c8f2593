import { expect } from 'chai';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import type { Impression } from '../../../actors/protocol.js';
import { RedisStore } from '../../../src/storage/redis/store.js';
import { ManualClock, startRedisNode, type NodeApp } from '../../helpers/backends.js';
import { API, createCampaign, expectError, impression, postImpression, stats } from '../../helpers/http.js';
import { requireRedis, startRedis, type RedisServer } from '../../helpers/redis.js';
import { fcParams } from '../../helpers/seed.js';

/** Redis specifics the conformance suite cannot see: stalls and outages, key layout, memory reclamation. */

const TTL = 60_000;
const REDIS_TIMEOUT = 200;
const RETRY_INTERVAL = 200;

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('storage/redis', function () {
  let server: RedisServer;
  let clock: ManualClock;
  let t: NodeApp | undefined;

  before(async function () {
    requireRedis(this);
    server = await startRedis();
  });
  after(() => server?.stop());

  beforeEach(() => {
    clock = new ManualClock();
  });
  afterEach(async () => {
    server?.resume(); // whatever a failed test left behind
    await t?.close();
    t = undefined;
  });

  const startNode = async (): Promise<NodeApp> =>
    (t = await startRedisNode({ url: server.url }, { clock, ttlMs: TTL, redisTimeoutMs: REDIS_TIMEOUT, redisRetryIntervalMs: RETRY_INTERVAL }));

  describe('when Redis stalls (SIGSTOP) and comes back (SIGCONT)', () => {
    it('answers 503 with Retry-After within its deadline, then at once, reports unready, and resumes without double counting', async () => {
      const node = await startNode();
      const id = await createCampaign(node);
      expect((await postImpression(node, impression(id, 'u0'))).body.counted).to.equal(true);

      server.pause();
      // Until the circuit opens, each call waits out its deadline (2 × REDIS_TIMEOUT + 50 ms) at most.
      for (const user of ['u1', 'u2', 'u3']) {
        const { value: res, ms } = await timed(() => postImpression(node, impression(id, user)));
        expectError(res, 503);
        expect(res.headers.get('retry-after')).to.equal('1');
        expect(ms, `${user} took ${ms} ms`).to.be.below(1000);
      }
      // Open: refused without waiting for Redis (a call would take REDIS_TIMEOUT at least).
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const { value: res, ms } = await timed(() => postImpression(node, impression(id, `b${i}`)));
        expectError(res, 503);
        times.push(ms);
      }
      expect(times.sort((x, y) => x - y)[2], `refusals took ${times.map(Math.round).join(', ')} ms`).to.be.below(REDIS_TIMEOUT / 2);
      // Concurrent requests are refused too: nothing queues behind the stalled server.
      const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => postImpression(node, impression(id, `c${i}`))));
      for (const res of burst) expectError(res, 503);
      expectError(await node.request('GET', `${API}/campaigns/${id}/stats`), 503, 'store did not answer');
      expectError(await postImpression(node, impression(id, 'c0')), 503, 'store did not answer', 'retrying is safe');
      expectError(await node.request('GET', `${API}/campaigns/${id}`), 503, 'Redis');
      const ready = await node.request('GET', '/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body).to.include({ status: 'unready', reason: 'Redis is unavailable' });

      server.resume();
      await eventually(async () => (await node.request('GET', '/readyz')).status === 200, 3000, '/readyz to be ready again');
      // The clients retry what was refused. Scripts that ran late (after SIGCONT) made their users
      // duplicates, so whatever the answers, nobody is counted twice.
      for (const user of ['u1', 'u2', 'u3']) expect((await postImpression(node, impression(id, user))).status).to.equal(200);
      expect(await stats(node, id)).to.include({ total: 4 });
    });

    it('serves a retry carrying an impression_id with its first outcome even when the first answer was lost', async () => {
      const node = await startNode();
      const id = await createCampaign(node);
      // A first impression makes this node look the campaign up and hold its actor, so that the
      // stalled attempt below is the counting script itself, not the lookup before it.
      expect((await postImpression(node, impression(id, 'u0'))).status).to.equal(200);
      server.pause();
      // Sent while Redis is stalled: answered 503, but Redis runs it when it resumes.
      expectError(await postImpression(node, { ...impression(id, 'u1'), impression_id: 'imp-1' }), 503);
      server.resume();
      await eventually(async () => (await node.request('GET', '/readyz')).status === 200, 3000, 'ready');
      // The lost first attempt has run: u1 is counted, so without the impression_id's remembered
      // outcome the retry would be a duplicate of u1 (counted: false), not a fresh count.
      await eventually(async () => (await stats(node, id)).total === 2, 3000, 'the stalled first attempt counted');
      const retry = await postImpression(node, { ...impression(id, 'u1'), impression_id: 'imp-1' });
      expect(retry.status).to.equal(200);
      expect(retry.body.counted, 'the retry reports the first outcome: counted').to.equal(true);
      expect(await stats(node, id)).to.include({ total: 2 });
    });
  });

  describe('when this process is too busy to read replies in time', () => {
    it('takes a reply that arrived while the event loop was blocked past the deadline as an answer, not a failure', async () => {
      const store = await RedisStore.open({ endpoint: { url: server.url }, ttlMs: TTL, commandTimeoutMs: 20, retryIntervalMs: 60_000 });
      try {
        await store.create({ id: 'busy', name: 'busy', startTime: 0, createdAt: 0 });
        for (let round = 0; round < 3; round++) {
          const answers = [store.exists(['busy', 'nope']), store.stats('busy', 1)];
          // A starved loop: Redis answers at once, but nothing reads the socket until every timer is overdue.
          const until = performance.now() + 200;
          while (performance.now() < until);
          expect(await Promise.all(answers)).to.deep.equal([[true, false], { lastHour: 0, lastDay: 0, total: 0 }]);
        }
        expect(store.available).to.equal(true);
      } finally {
        await store.close();
      }
    });

    it('takes a reply waiting in the socket when its deadline fires a little late as an answer', async () => {
      // Deadline 2 × 100 + 50 = 250 ms; the loop is blocked from just after the command is written
      // until 300 ms: the timer is late by less than half the deadline, and the reply has arrived.
      const store = await RedisStore.open({ endpoint: { url: server.url }, ttlMs: TTL, commandTimeoutMs: 100, retryIntervalMs: 60_000 });
      try {
        for (let round = 0; round < 3; round++) {
          const started = performance.now();
          const answer = store.exists(['nope']);
          await new Promise<void>((resolve) =>
            setImmediate(() => {
              while (performance.now() < started + 300);
              resolve();
            }),
          );
          expect(await answer).to.deep.equal([false]);
        }
      } finally {
        await store.close();
      }
    });
  });

  describe('unknown campaign ids', () => {
    it('answers a batch of unknown ids 404 from one lookup, leaves no campaign actor behind and the store available', async () => {
      const node = await startNode();
      const id = await createCampaign(node);
      const batch = Array.from({ length: 1000 }, (_, i) => impression(`ghost-${i}`, 'u1'));
      batch.push(impression(id, 'u1'));
      const res = await node.request('POST', `${API}/impressions`, batch);
      expect(res.status).to.equal(200);
      const results = (res.body as { results: { code?: number; counted?: boolean }[] }).results;
      expect(results.slice(0, 1000).every((r) => r.code === 404)).to.equal(true);
      expect(results[1000]).to.deep.equal({ counted: true });
      const tree = await node.counter.campaigns.describe();
      expect(tree.campaigns, 'only the real campaign has an actor').to.equal(1);
      expect(node.store?.available).to.equal(true);
      expect((await node.request('GET', '/readyz')).status).to.equal(200);
    });
  });

  describe('when Redis is not there at start', () => {
    it('starts unready, answers 503, and serves once Redis appears', async () => {
      const absent = await startRedis();
      const port = absent.port;
      await absent.stop();
      const store = await RedisStore.open({ endpoint: { url: `redis://127.0.0.1:${port}` }, ttlMs: TTL, commandTimeoutMs: REDIS_TIMEOUT, retryIntervalMs: RETRY_INTERVAL }, 200);
      expect(store.available).to.equal(false);
      await store.close();

      const node = await startRedisNode({ url: `redis://127.0.0.1:${port}` }, { clock, ttlMs: TTL, redisTimeoutMs: REDIS_TIMEOUT, redisRetryIntervalMs: RETRY_INTERVAL });
      t = node;
      expect((await node.request('GET', '/readyz')).status).to.equal(503);
      const { value: res, ms } = await timed(() => node.request('POST', `${API}/campaigns`, { name: 'x' }));
      expectError(res, 503);
      expect(ms).to.be.below(100);
      const back = await startRedis({ port });
      try {
        await eventually(async () => (await node.request('GET', '/readyz')).status === 200, 5000, 'ready');
        const id = await createCampaign(node);
        expect((await postImpression(node, impression(id, 'u1'))).body.counted).to.equal(true);
      } finally {
        await back.stop();
      }
    });
  });

  describe('keys', () => {
    let store: RedisStore;
    let raw: Redis;
    beforeEach(async () => {
      // Emptied before the store opens: emptied under it, the store would rightly report a loss.
      raw = new Redis(server.port, '127.0.0.1');
      await raw.flushall();
      store = await RedisStore.open({ endpoint: { url: server.url }, ttlMs: TTL, commandTimeoutMs: 500, retryIntervalMs: RETRY_INTERVAL });
    });
    afterEach(async () => {
      await store.close();
      raw.disconnect();
    });

    const item = (campaignId: string, userId: string, extra: Partial<Impression> = {}): Impression => ({ campaignId, userId, adId: 'a', ...extra });

    it("keeps every key of a campaign under its hash tag, and ids with braces or colons cannot reach another campaign's keys", async () => {
      const info = (id: string) => ({ id, name: id, startTime: 0, createdAt: 0 });
      await store.create(info('x'));
      await store.create(info('x}:u:y'));
      expect(await store.ingest('x', [{ at: 1, items: [item('x', 'y}:c')] }])).to.deep.equal(['counted']);
      expect(await store.ingest('x}:u:y', [{ at: 1, items: [item('x}:u:y', 'u1')] }])).to.deep.equal(['counted']);
      expect(await store.stats('x', 1)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
      expect(await store.stats('x}:u:y', 1)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
      const keys = (await raw.keys('*')).sort();
      for (const key of keys.filter((k) => k !== 'ic:campaigns' && k !== 'ic:epoch')) expect(key).to.match(/^ic:\{[\w.=-]+\}:(c|u:.*|i:.*|k:.*|ki:.*|ads|adl|ado|adm|adr|tot|(am|ah|aq|ay):\d+|(hm|hh|hd):\d+(:.*)?)$/);
      expect(keys).to.include('ic:{x}:u:y}:c');
    });

    it('gives every analytics bucket and sketch an expiry, and answers clicks and analytics of a missing campaign not_found', async () => {
      await store.create({ id: 'c', name: 'c', startTime: 0, createdAt: 0 });
      await store.ingest('c', [{ at: 1000, items: [item('c', 'u1'), item('c', 'u1'), item('c', 'u2', { bot: true })] }]);
      expect(await store.clicks('c', [{ campaignId: 'c', adId: 'a', userId: 'u1', at: 1000, playbackTime: 1.5 }], 1000)).to.deep.equal(['counted']);
      const buckets = (await raw.keys('ic:{c}:*')).filter((k) => /:(am|ah|aq|hm|hh|hd):/.test(k));
      expect(buckets.map((k) => k.split(':').slice(2).join(':')).sort()).to.deep.equal(['ah:0', 'am:0', 'aq:0', 'hd:0', 'hd:0:a', 'hh:0', 'hh:0:a', 'hm:0', 'hm:0:a']);
      for (const key of buckets) expect(await raw.pttl(key), key).to.be.above(0);
      expect(await store.analytics('c', 1000, '1h')).to.deep.equal({
        campaign: { counted: 1, duplicates: 1, botImpressions: 1, clicks: 1, duplicateClicks: 0, botClicks: 0, playbackCount: 1, playbackSeconds: 1.5, uniqueUsers: 1 },
      });
      expect(await store.clicks('nope', [{ campaignId: 'nope', adId: 'a', at: 1000 }], 1000)).to.deep.equal(['not_found']);
      expect(await store.analytics('nope', 1000, '24h')).to.equal('not_found');
    });

    it('gives the first ANALYTICS_MAX_ADS ads seen rows of their own and the rest the (other) row, last', async () => {
      const two = await RedisStore.open({ endpoint: { url: server.url }, ttlMs: TTL, commandTimeoutMs: 500, retryIntervalMs: RETRY_INTERVAL, maxAds: 2 });
      try {
        await two.create({ id: 'c', name: 'c', startTime: 0, createdAt: 0 });
        const imp = (userId: string, adId: string): Impression => ({ campaignId: 'c', userId, adId });
        await two.ingest('c', [{ at: 1000, items: [imp('u1', 'x'), imp('u2', 'y'), imp('u3', 'z'), imp('u4', 'x'), imp('u5', '(other)')] }]);
        await two.clicks('c', [{ campaignId: 'c', adId: 'w', at: 1000 }], 1000);
        const report = await two.analytics('c', 1000, '1h', true);
        if (report === 'not_found') throw new Error('not found');
        expect(report.ads?.map((a) => [a.adId, a.figures.counted, a.figures.clicks, a.figures.uniqueUsers])).to.deep.equal([
          ['x', 2, 0, 2],
          ['y', 1, 0, 1],
          ['(other)', 2, 1, 2],
        ]);
      } finally {
        await two.close();
      }
    });

    it('says which ids name campaigns, one answer per id in order', async () => {
      await store.create({ id: 'c', name: 'c', startTime: 0, createdAt: 0 });
      await store.create({ id: 'x}:c', name: 'x', startTime: 0, createdAt: 0 });
      expect(await store.exists(['nope', 'c', 'x}:c', 'x', ''])).to.deep.equal([false, true, true, false, false]);
      expect(await store.exists([])).to.deep.equal([]);
    });

    it('expires dedupe keys a minute after their window (decisions use the stored time, not the expiry)', async () => {
      await store.create({ id: 'c', name: 'c', startTime: 0, createdAt: 0 });
      await store.ingest('c', [{ at: 1000, items: [item('c', 'u1'), item('c', 'u2', { impressionId: 'i1' })] }]);
      expect(await raw.get('ic:{c}:u:u1')).to.equal('1000');
      const pttl = await raw.pttl('ic:{c}:u:u1');
      expect(pttl).to.be.within(TTL + 59_000, TTL + 60_000);
      expect(await raw.pttl('ic:{c}:i:i1')).to.be.within(86_400_000 + 59_000, 86_400_000 + 60_000);
    });

    it('keeps no minute hash of its own: last_hour/last_day read the analytics buckets, 60 and 1,440 minutes of them', async () => {
      await store.create({ id: 'c', name: 'c', startTime: 0, createdAt: 0 });
      const groups = Array.from({ length: 1600 }, (_, m) => ({ at: m * 60_000, items: [item('c', `u${m}`)] }));
      await store.ingest('c', groups);
      expect(await raw.exists('ic:{c}:m')).to.equal(0);
      expect(await store.stats('c', 1599 * 60_000)).to.deep.equal({ lastHour: 60, lastDay: 1440, total: 1600 });
    });

    // The definition the windows had when they kept their own minute hash: every minute later than
    // 60 (1,440) minutes before the read's, later ones included, from a writer up to an hour ahead.
    it('answers last_hour/last_day as the sums of the counted minutes in the trailing 60 and 1,440, on both sides of every hour and day edge (property)', async function () {
      this.timeout(60_000);
      const HOUR_MINUTES = 60;
      const DAY_MINUTES = 1440;
      let runs = 0;
      // Impression minutes over three days, many at hour edges; reads on both sides of each one's edges.
      const minutes = fc.array(fc.oneof(fc.integer({ min: 0, max: 3 * DAY_MINUTES }), fc.tuple(fc.integer({ min: 1, max: 72 }), fc.integer({ min: -1, max: 1 })).map(([h, d]) => h * HOUR_MINUTES + d)), { minLength: 1, maxLength: 30 });
      await fc.assert(
        fc.asyncProperty(minutes, async (impressionMinutes) => {
          // A campaign per run: flushing under an open store would (rightly) read as a lost Redis.
          const id = `c${++runs}`;
          await store.create({ id, name: id, startTime: 0, createdAt: 0 });
          const sorted = [...impressionMinutes].sort((a, b) => a - b);
          // Each arrives on time, except that its event minute may be earlier (a timestamp).
          expect(await store.ingest(id, sorted.map((m, k) => ({ at: m * 60_000 + 30_000, items: [item(id, `u${k}`, { at: m * 60_000 + 1_000 })] })))).to.deep.equal(sorted.map(() => 'counted'));
          const reads = new Set<number>();
          for (const m of sorted) for (const edge of [0, HOUR_MINUTES, DAY_MINUTES]) for (const d of [-1, 0]) reads.add(m + edge + d);
          for (const r of [...reads].filter((r) => r >= 0 && sorted.every((m) => m <= r + HOUR_MINUTES))) {
            const expected = {
              lastHour: sorted.filter((m) => m > r - HOUR_MINUTES).length,
              lastDay: sorted.filter((m) => m > r - DAY_MINUTES).length,
              total: sorted.length,
            };
            expect(await store.stats(id, r * 60_000 + 59_999), `read in minute ${r} of ${sorted.join(", ")}`).to.deep.equal(expected);
          }
        }),
        fcParams(15),
      );
    });

    it('tallies a bot impression as bot_filtered without counting it or taking the user', async () => {
      await store.create({ id: 'c', name: 'c', startTime: 0, createdAt: 0 });
      expect(await store.ingest('c', [{ at: 5, items: [item('c', 'u1', { bot: true }), item('c', 'u1')] }])).to.deep.equal(['bot_filtered', 'counted']);
      expect(await store.stats('c', 5)).to.include({ total: 1 });
    });
  });
});
