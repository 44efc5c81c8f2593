import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import sinon from 'sinon';
import { DedupeTable } from '../../actors/counting/dedupe.js';
import type { DeadLetterReport, SupervisionReport } from '../../actors/registry/registry.js';
import { createApp } from '../../src/app.js';
import { Client, removeTempDirs, tempDir, waitFor, type JsonResponse } from '../helpers/process.js';
import { DEFAULT_ANALYTICS } from '../../actors/analytics-protocol.js';
import { HOUR_MS, ManualClock, T0, bootNode, digestOf, sameDigest, stallDatasync, users, type Node, type NodeOptions } from '../helpers/storage.js';

/** The real app over a journal-backed node (what main.ts builds), on an ephemeral loopback port. */
interface Served {
  readonly node: Node;
  readonly client: Client;
  readonly server: Server;
}

/** One test run across a crash (the journal replayed) and across a graceful restart (from the snapshot). */
function acrossRestarts(name: (how: string) => string, firstLife: () => Promise<{ node: Node; campaign: string }>, afterRestart: (campaign: string) => Promise<void>): void {
  const ends: [string, (node: Node) => Promise<unknown>][] = [
    ['a crash (the journal replayed)', (node) => node.crash()],
    ['a graceful restart (from the snapshot)', (node) => node.shutdown()],
  ];
  for (const [how, end] of ends) {
    it(name(how), async () => {
      const { node, campaign } = await firstLife();
      await end(node);
      await afterRestart(campaign);
    });
  }
}

function expectErrorBody(res: JsonResponse, status: number): void {
  const shown = JSON.stringify(res.body);
  expect(res.status, shown).to.equal(status);
  expect(Object.keys(res.body ?? {}).sort(), shown).to.deep.equal(['code', 'error']);
  expect(res.body.code, shown).to.equal(status);
}

describe('durability through the HTTP API (in process)', () => {
  let served: Served[];
  /** Nodes restarted on the same directory, without a server of their own. */
  let restarted: Node[];
  let dir: string;

  beforeEach(async () => {
    served = [];
    restarted = [];
    dir = await tempDir();
  });
  afterEach(async () => {
    sinon.restore();
    for (const s of served) {
      s.client.close();
      s.server.closeAllConnections();
      await new Promise((r) => s.server.close(r));
      await s.node.crash().catch(() => undefined);
    }
    for (const n of restarted) await n.crash().catch(() => undefined);
    await removeTempDirs();
  });

  async function serve(options: NodeOptions = {}): Promise<Served> {
    const node = await bootNode(dir, { clock: new ManualClock(T0), ...options });
    const app = createApp({ counter: node.counter, bodyLimitBytes: 1024 * 1024, batchLimit: 10_000, logger: pino({ level: 'silent' }) });
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const s = { node, server, client: new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 20) };
    served.push(s);
    return s;
  }

  const item = (campaign: string, user: string, impressionId?: string) =>
    impressionId === undefined ? { campaign_id: campaign, user_id: user, ad_id: 'ad-1' } : { campaign_id: campaign, user_id: user, ad_id: 'ad-1', impression_id: impressionId };

  describe('dead letters', () => {
    /** Makes the campaign actor throw whenever it admits `user` (a poison message). */
    function poison(user: string): sinon.SinonStub {
      const target = digestOf(user);
      const real = DedupeTable.prototype.admitDigest;
      return sinon.stub(DedupeTable.prototype, 'admitDigest').callsFake(function (this: DedupeTable, d: Uint32Array, at: number) {
        if (sameDigest(d, target)) throw new Error(`poison impression for ${user}`);
        return real.call(this, d, at);
      });
    }

    it('an impression that crashes its campaign twice becomes a dead letter, answered 422 without crashing again', async () => {
      const letters: DeadLetterReport[] = [];
      const supervision: SupervisionReport[] = [];
      const { node, client } = await serve({ onDeadLetter: (r) => letters.push(r), onSupervision: (r) => supervision.push(r) });
      const campaign = await client.createCampaign('spring');
      expect((await client.request('POST', '/api/v1/impressions', users(10).map((u) => item(campaign, u)))).body.counted).to.equal(10);
      const admit = poison('poison');

      const first = await client.request('POST', '/api/v1/impressions', item(campaign, 'poison'));
      expectErrorBody(first, 503);
      expect(first.headers['retry-after']).to.match(/^\d+$/);
      expect(letters, 'one crash is not yet poison').to.deep.equal([]);
      const second = await client.request('POST', '/api/v1/impressions', item(campaign, 'poison'));
      expectErrorBody(second, 503);
      expect(letters).to.have.length(1);
      expect(letters[0]).to.deep.include({ type: 'dead_letter', campaignId: campaign, impression: { campaignId: campaign, userId: 'poison', adId: 'ad-1', impressionId: undefined } });
      expect(String(letters[0].error)).to.include('poison impression');
      const crashes = supervision.length;
      expect(crashes).to.equal(2);

      const calls = admit.callCount;
      const third = await client.request('POST', '/api/v1/impressions', item(campaign, 'poison'));
      expectErrorBody(third, 422);
      expect(third.body.error).to.include('dead-letter');
      expect(admit.callCount, 'a dead letter is never processed again').to.equal(calls);
      expect(supervision, 'no further crash').to.have.length(crashes);

      // Other users keep counting, in singles and in a batch that carries the dead letter along.
      expect((await client.request('POST', '/api/v1/impressions', item(campaign, 'fresh'))).body.counted).to.equal(true);
      const batch = await client.request('POST', '/api/v1/impressions', [item(campaign, 'poison'), item(campaign, 'fresh-2'), item(campaign, 'user-0')]);
      expect(batch.status).to.equal(200);
      expect(batch.body).to.deep.include({ counted: 1, duplicates: 1, rejected: 1 });
      expect(batch.body.results[0]).to.include({ code: 422 });
      expect(batch.body.results.slice(1)).to.deep.equal([{ counted: true }, { counted: false, duplicate: true }]);
      expect(supervision).to.have.length(crashes);

      // The restarted actor kept its state: nothing counted before the crashes was lost.
      expect((await client.stats(campaign)).total).to.equal(12);
      expect(node.errors).to.deep.equal([]);
      admit.restore();
      await node.crash();
      const next = await bootNode(dir);
      restarted.push(next);
      expect(await next.total(campaign), 'the journal agrees after a restart').to.equal(12);
    });

    it('a poison item in the middle of a batch: the items before it count once, the ones after it are retryable', async () => {
      const letters: DeadLetterReport[] = [];
      const { client } = await serve({ onDeadLetter: (r) => letters.push(r) });
      const campaign = await client.createCampaign('spring');
      poison('poison');
      const batch = [item(campaign, 'a'), item(campaign, 'poison'), item(campaign, 'b')];
      const first = await client.request('POST', '/api/v1/impressions', batch);
      expect(first.body.results.map((r: { counted?: boolean; code?: number }) => r.counted ?? r.code)).to.deep.equal([true, 503, 503]);
      const second = await client.request('POST', '/api/v1/impressions', batch);
      expect(second.body.results.map((r: { counted?: boolean; code?: number }) => r.counted ?? r.code)).to.deep.equal([false, 503, 503]);
      expect(letters.map((l) => l.impression.userId)).to.deep.equal(['poison']);
      const third = await client.request('POST', '/api/v1/impressions', batch);
      expect(third.body.results.map((r: { counted?: boolean; code?: number }) => r.counted ?? r.code)).to.deep.equal([false, 422, true]);
      expect((await client.stats(campaign)).total).to.equal(2);
    });
  });

  describe('backpressure', () => {
    it('answers 503 with Retry-After while the journal is behind the disk, and recovers once it catches up', async () => {
      const { node, client } = await serve({ maxPendingBytes: 1024 });
      const campaign = await client.createCampaign('spring');
      const { gate, stub } = await stallDatasync();

      // One large batch is admitted, written, and waits for a sync that does not come.
      const admitted = client.request('POST', '/api/v1/impressions', users(200).map((u) => item(campaign, u)));
      await waitFor(() => node.store.journal.backlogged && stub.callCount > 0, 5000, 'the journal to be backlogged');

      const single = await client.request('POST', '/api/v1/impressions', item(campaign, 'late'));
      expectErrorBody(single, 503);
      expect(Number(single.headers['retry-after'])).to.be.at.least(1);
      const batch = await client.request('POST', '/api/v1/impressions', [item(campaign, 'late-1'), item(campaign, 'late-2')]);
      expectErrorBody(batch, 503);
      expectErrorBody(await client.request('POST', '/api/v1/campaigns', { name: 'another' }), 503);
      expect((await client.request('GET', `/api/v1/campaigns/${campaign}/stats`)).status, 'reads are not shed').to.equal(200);

      // Sustained overload is refused, not buffered: nothing more reaches the journal or the counts.
      const refused = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request('POST', '/api/v1/impressions', item(campaign, `flood-${i}`))));
      expect(refused.every((r) => r.status === 503)).to.equal(true);
      expect((await client.stats(campaign)).total).to.equal(200);

      gate.release();
      const done = await admitted;
      expect(done.status).to.equal(200);
      expect(done.body.counted).to.equal(200);
      await waitFor(() => !node.store.journal.backlogged, 5000, 'the backlog to clear');
      const after = await client.request('POST', '/api/v1/impressions', item(campaign, 'late'));
      expect(after.status).to.equal(200);
      expect(after.body.counted).to.equal(true);
      expect((await client.stats(campaign)).total).to.equal(201);
    });

    it('in fsync mode an answer waits for the disk: nothing is acknowledged before it is synced', async () => {
      const { client, node } = await serve();
      const campaign = await client.createCampaign('spring');
      const { gate, stub } = await stallDatasync();
      // The stalled sync then fails: an answer that waited for it is an error, one that did not is a
      // 200 however late it comes, so no number of event-loop turns is assumed.
      stub.callsFake(async () => {
        await gate.wait();
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      });
      const pending = client.request('POST', '/api/v1/impressions', item(campaign, 'u1'));
      await waitFor(() => stub.callCount > 0, 5000, 'the group commit to start');
      gate.release();
      const answer = await pending;
      expect(answer.status, `answered ${JSON.stringify(answer.body)} although the sync failed`).to.be.at.least(500);
      expect(node.errors, 'the failed sync is reported').to.have.length.above(0);
    });
  });

  describe('idempotent retries (impression_id)', () => {
    it('a retry within a day returns the original outcome and never counts twice, also after a restart', async () => {
      const { node, client } = await serve();
      const campaign = await client.createCampaign('spring');
      const post = (body: unknown) => client.request('POST', '/api/v1/impressions', body);

      expect((await post(item(campaign, 'u1', 'imp-1'))).body.counted).to.equal(true);
      expect((await post(item(campaign, 'u1', 'imp-2'))).body.counted, 'a new id for a repeat user is a duplicate').to.equal(false);
      expect((await post(item(campaign, 'u1', 'imp-1'))).body.counted, 'retry of a counted impression').to.equal(true);
      expect((await post(item(campaign, 'u1', 'imp-2'))).body.counted, 'retry of a duplicate').to.equal(false);
      const batch = await post([item(campaign, 'u2', 'imp-3'), item(campaign, 'u2', 'imp-3'), item(campaign, 'u1', 'imp-1')]);
      expect(batch.body.results).to.deep.equal([{ counted: true }, { counted: true, replayed: true }, { counted: true, replayed: true }]);
      expect((await client.stats(campaign)).total).to.equal(2);

      await node.crash();
      const next = await bootNode(dir, { clock: new ManualClock(T0 + 3_600_000 * 2) });
      restarted.push(next);
      const outcomes = await next.counter.impressions.recordMany([
        { campaignId: campaign, userId: 'u1', adId: 'ad-1', impressionId: 'imp-1' },
        { campaignId: campaign, userId: 'u1', adId: 'ad-1', impressionId: 'imp-2' },
        { campaignId: campaign, userId: 'u2', adId: 'ad-1', impressionId: 'imp-3' },
      ]);
      expect(outcomes.outcomes, 'past the dedupe TTL, retries still return their first outcome').to.deep.equal(['replayed_counted', 'replayed_duplicate', 'replayed_counted']);
      expect(await next.total(campaign)).to.equal(2);
    });
  });

  describe('impression timestamps', () => {
    /** u1 arrives at T0 but happened 30 minutes before; u2 has no timestamp; u3 with one is a bot. */
    async function firstLife(): Promise<{ node: Node; campaign: string }> {
      const { node, client } = await serve();
      const campaign = await client.createCampaign('spring');
      const happened = new Date(T0 - 30 * 60_000).toISOString();
      const res = await client.request('POST', '/api/v1/impressions', [
        { ...item(campaign, 'u1'), timestamp: happened },
        item(campaign, 'u2'),
        { ...item(campaign, 'u1'), timestamp: happened },
      ]);
      expect(res.body).to.deep.include({ counted: 2, duplicates: 1 });
      return { node, campaign };
    }

    async function afterRestart(campaign: string): Promise<void> {
      // u1 leaves last_hour 60 minutes after the minute it happened, u2 after the minute it arrived.
      const edge = Math.floor((T0 - 30 * 60_000) / 60_000) * 60_000 + HOUR_MS;
      const next = await bootNode(dir, { clock: new ManualClock(edge - 1) });
      restarted.push(next);
      expect(await next.counter.campaigns.stats(campaign)).to.deep.equal({ lastHour: 2, lastDay: 2, total: 2 });
      expect((await next.counter.analytics.report(campaign, '1h', false)).campaign).to.include({ counted: 2, duplicates: 1 });
      next.clock.ms = edge;
      expect(await next.counter.campaigns.stats(campaign)).to.deep.equal({ lastHour: 1, lastDay: 2, total: 2 });
      expect((await next.counter.analytics.report(campaign, '1h', false)).campaign, 'the duplicate, too, happened 30 minutes before').to.include({ counted: 1, duplicates: 0 });
      // Dedupe went by arrival: u1 stays a duplicate until an hour (the TTL) after T0.
      next.clock.ms = T0 + HOUR_MS - 1;
      expect(await next.record(campaign, ['u1'])).to.deep.equal(['duplicate']);
    }

    acrossRestarts((how) => `keep counting in the minute the impression happened after ${how}`, firstLife, afterRestart);
  });

  describe('idempotent retries (click_id)', () => {
    const click = (campaign: string, user: string, clickId: string) => ({ campaign_id: campaign, ad_id: 'ad-1', user_id: user, click_id: clickId });
    const clicksOf = async (node: Node, campaign: string): Promise<number> => (await node.counter.analytics.report(campaign, '24h', false)).campaign.clicks;

    /** Posts c-1 (counted) and c-2 (a duplicate under click dedupe), then their retries; 1 click counted. */
    async function firstLife(): Promise<{ node: Node; campaign: string }> {
      const { node, client } = await serve({ analytics: { ...DEFAULT_ANALYTICS, clickTtlMs: 60_000 } });
      const campaign = await client.createCampaign('spring');
      const post = (body: unknown) => client.request('POST', '/api/v1/clicks', body);
      expect((await post(click(campaign, 'u1', 'c-1'))).body).to.include({ counted: true });
      expect((await post(click(campaign, 'u1', 'c-2'))).body).to.include({ counted: false, duplicate: true });
      const retry = await post(click(campaign, 'u1', 'c-1'));
      expect(retry.headers['idempotent-replayed']).to.equal('true');
      expect(retry.body).to.include({ counted: true, replayed: true });
      expect(await clicksOf(node, campaign)).to.equal(1);
      return { node, campaign };
    }

    async function afterRestart(campaign: string): Promise<void> {
      // Two hours on, past the click dedupe window: only the remembered click ids stop a recount.
      const next = await bootNode(dir, { clock: new ManualClock(T0 + 2 * HOUR_MS), analytics: { ...DEFAULT_ANALYTICS, clickTtlMs: 60_000 } });
      restarted.push(next);
      const at = next.clock.now();
      const retried = await next.counter.clicks.record(
        [
          { campaignId: campaign, adId: 'ad-1', userId: 'u1', clickId: 'c-1', at },
          { campaignId: campaign, adId: 'ad-1', userId: 'u1', clickId: 'c-2', at },
        ],
        at,
      );
      expect(retried.outcomes).to.deep.equal(['replayed_counted', 'replayed_duplicate']);
      expect(await clicksOf(next, campaign), 'the retried click counts once').to.equal(1);
      const fresh = await next.counter.clicks.record([{ campaignId: campaign, adId: 'ad-1', userId: 'u1', clickId: 'c-3', at }], at);
      expect(fresh.outcomes, 'a new id still counts').to.deep.equal(['counted']);
    }

    acrossRestarts((how) => `a click retried across ${how} returns its first outcome and counts once`, firstLife, afterRestart);
  });
});
