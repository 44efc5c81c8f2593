import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import sinon from 'sinon';
import type { Impression } from '../../../actors/protocol.js';
import type { EpochEvent } from '../../../src/storage/redis-epoch.js';
import { StoreResetError } from '../../../src/storage/redis-epoch.js';
import type { RedisEndpoint } from '../../../src/storage/redis/connection.js';
import { warnWithoutPersistence } from '../../../src/storage/redis/open.js';
import { RedisStore } from '../../../src/storage/redis/store.js';
import { SLOTS, slotOf } from '../../../src/storage/slots.js';
import { ManualClock, startRedisNode, type NodeApp } from '../../helpers/backends.js';
import { API, createCampaign, expectError, impression, postImpression, stats } from '../../helpers/http.js';
import { requireRedis, startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../../helpers/redis.js';
import { recordingLogger } from '../../helpers/storage.js';

/** Noticing a Redis that lost its data (src/storage/redis-epoch.ts), on one server and on a cluster. */

const TTL = 60_000;

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const item = (campaignId: string, userId: string): Impression => ({ campaignId, userId, adId: 'a' });
const info = (id: string) => ({ id, name: id, startTime: 0, createdAt: 0 });

describe('storage/redis-epoch', function () {
  this.timeout(30_000);

  describe('on one Redis server', () => {
    let server: RedisServer;
    let raw: Redis;
    const open: RedisStore[] = [];
    const openStore = async (options: { checkIntervalMs?: number; acceptReset?: boolean; onEpoch?: (e: EpochEvent) => void } = {}): Promise<RedisStore> => {
      const store = await RedisStore.open({ endpoint: { url: server.url }, ttlMs: TTL, commandTimeoutMs: 500, retryIntervalMs: 100, checkIntervalMs: 60_000, ...options });
      open.push(store);
      return store;
    };

    before(async function () {
      requireRedis(this);
      server = await startRedis();
    });
    after(() => server?.stop());
    beforeEach(async () => {
      raw = new Redis(server.port, '127.0.0.1');
      await raw.flushall();
    });
    afterEach(async () => {
      sinon.restore();
      await Promise.all(open.splice(0).map((s) => s.close()));
      raw.disconnect();
    });

    it('writes an epoch at first use, and a node starting later adopts it', async () => {
      const events: EpochEvent[] = [];
      const a = await openStore({ onEpoch: (e) => events.push(e) });
      const epoch = await raw.get('ic:epoch');
      expect(epoch).to.match(/^[\da-f-]{36}$/);
      expect(events).to.deep.equal([{ type: 'initialised', epoch }]);
      const b = await openStore();
      expect(await raw.get('ic:epoch')).to.equal(epoch);
      expect([a.epochState, b.epochState, a.available, b.available]).to.deep.equal(['ok', 'ok', true, true]);
    });

    it('refuses a call into a Redis emptied between two calls (the script sees it first): nothing counted, never not_found', async () => {
      const store = await openStore();
      await store.create(info('c'));
      expect(await store.ingest('c', [{ at: 1, items: [item('c', 'u1')] }])).to.deep.equal(['counted']);
      await raw.flushall();
      const refused = await store.ingest('c', [{ at: 2, items: [item('c', 'u2')] }]).catch((err: unknown) => err);
      expect(refused).to.be.instanceOf(StoreResetError);
      expect((refused as StoreResetError).status).to.equal(503);
      expect(store.epochState).to.equal('lost');
      expect(store.available).to.equal(false);
      for (const call of [() => store.stats('c', 2), () => store.exists(['c']), () => store.get('c'), () => store.create(info('d'))]) {
        expect(await call().catch((err: unknown) => err)).to.be.instanceOf(StoreResetError);
      }
      expect(await raw.keys('*'), 'nothing written into the empty store').to.deep.equal([]);
    });

    it('finds a loss at the periodic check while idle, not before the interval', async () => {
      const clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const store = await openStore({ checkIntervalMs: 5000 });
      await raw.flushall();
      clock.tick(4999);
      await raw.ping(); // a round trip in which a check, had one started, would have read the keys
      await raw.ping();
      expect(store.epochState).to.equal('ok');
      clock.tick(1);
      await eventually(() => store.epochState === 'lost', 'the check to find the loss');
      expect(store.refusal).to.match(/lost its data: its epoch key is gone/);
    });

    it('finds a loss on reconnect when Redis restarted empty between two calls', async () => {
      const store = await openStore();
      const port = server.port;
      await server.stop();
      server = await startRedis({ port });
      await eventually(() => store.epochState === 'lost', 'the reconnect check to find the loss');
    });

    it('resumes on every node once one accepts the loss; nothing to accept when nothing was lost', async () => {
      const events: EpochEvent[] = [];
      const a = await openStore();
      const b = await openStore({ onEpoch: (e) => events.push(e) });
      const epoch = await raw.get('ic:epoch');
      expect(await a.acceptReset()).to.deep.equal({ accepted: false, epoch, repairedSlots: 0 });
      await raw.flushall();
      await Promise.all([a.checkEpoch(), b.checkEpoch()]);
      expect([a.epochState, b.epochState]).to.deep.equal(['lost', 'lost']);
      expect(await a.acceptReset()).to.deep.equal({ accepted: true, epoch, repairedSlots: 1 });
      expect(a.available).to.equal(true);
      await b.checkEpoch();
      expect(b.epochState).to.equal('ok');
      expect(events.map((e) => e.type)).to.deep.equal(['lost', 'restored']);
      await b.create(info('new'));
      expect(await a.ingest('new', [{ at: 1, items: [item('new', 'u1')] }])).to.deep.equal(['counted']);
    });

    it('with REDIS_ACCEPT_RESET=on, reports the loss and goes on counting into what is left', async () => {
      const events: EpochEvent[] = [];
      const store = await openStore({ acceptReset: true, onEpoch: (e) => events.push(e) });
      await raw.flushall();
      await store.checkEpoch();
      await eventually(() => store.epochState === 'ok', 'the automatic accept');
      expect(events.map((e) => [e.type, 'automatically' in e ? e.automatically : undefined])).to.deep.equal([
        ['initialised', undefined],
        ['lost', undefined],
        ['accepted', true],
      ]);
      await store.create(info('c'));
      expect(await store.ingest('c', [{ at: 1, items: [item('c', 'u1')] }])).to.deep.equal(['counted']);
    });

    it('a node that saw another epoch than its own stays refused after a newcomer set the emptied store up afresh', async () => {
      const a = await openStore();
      await raw.flushall();
      const newcomer = await openStore();
      expect(newcomer.epochState, 'all empty at start looks like a first use').to.equal('ok');
      await a.checkEpoch();
      expect(a.epochState).to.equal('lost');
      expect(a.refusal).to.match(/epoch changed/);
      expect((await a.acceptReset()).accepted).to.equal(true);
      expect(a.available).to.equal(true);
      expect(newcomer.epochState).to.equal('ok');
    });

    describe('over HTTP', () => {
      let t: NodeApp | undefined;
      afterEach(async () => {
        await t?.close();
        t = undefined;
      });

      it('turns unready with the reason, answers 503 with Retry-After (never 404) and counts nothing until accepted by the admin call', async () => {
        const clock = new ManualClock();
        const node = (t = await startRedisNode({ url: server.url }, { clock, ttlMs: TTL }));
        const id = await createCampaign(node);
        expect((await postImpression(node, impression(id, 'u1'))).body.counted).to.equal(true);
        await raw.flushall();
        await node.store?.checkEpoch();

        const ready = await node.request('GET', '/readyz');
        expect(ready.status).to.equal(503);
        expect(ready.body.reason).to.match(/^the Redis store lost its data: .*accept-reset/);
        for (const res of [
          await postImpression(node, impression(id, 'u2')),
          await node.request('GET', `${API}/campaigns/${id}/stats`),
          await node.request('GET', `${API}/campaigns/${id}`),
          await postImpression(node, impression('never-existed', 'u2')),
        ]) {
          expectError(res, 503, 'lost its data');
          expect(res.headers.get('retry-after')).to.match(/^\d+$/);
        }
        const batch = await postImpression(node, [impression(id, 'u3'), impression(id, 'u4')]);
        expect(batch.body.results.map((r: { code?: number }) => r.code)).to.deep.equal([503, 503]);
        expect(await raw.keys('*'), 'nothing counted into the empty store').to.deep.equal([]);

        const accepted = await node.request('POST', `${API}/admin/redis/accept-reset`);
        expect(accepted.status).to.equal(200);
        expect(accepted.body).to.include({ accepted: true, repaired_slots: 1 });
        expect((await node.request('GET', '/readyz')).status).to.equal(200);
        expectError(await postImpression(node, impression(id, 'u2')), 404); // accepted: the campaign is gone
        const fresh = await createCampaign(node);
        expect((await postImpression(node, impression(fresh, 'u1'))).body.counted).to.equal(true);
        expect(await stats(node, fresh)).to.include({ total: 1 });
        const again = await node.request('POST', `${API}/admin/redis/accept-reset`);
        expect(again.body).to.include({ accepted: false });
      });
    });

    it('warns at start when Redis keeps no AOF, says which, and starts anyway when CONFIG is refused', async () => {
      const store = await openStore();
      const { logger, lines } = recordingLogger();
      await warnWithoutPersistence(store.masters(), logger);
      expect(lines.map((l) => [l.level, l.msg])).to.deep.equal([['warn', 'Redis runs without persistence (appendonly no, save ""): a restart loses every campaign and count']]);

      const fake = (appendonly: string, save: string) => ({ address: 'x:1', config: (_get: string, name: string) => Promise.resolve([name, name === 'appendonly' ? appendonly : save]) });
      const refusing = { address: 'y:2', config: () => Promise.reject(new Error("ERR unknown command 'CONFIG'")) };
      const other = recordingLogger();
      await warnWithoutPersistence([fake('no', '3600 1'), fake('yes', ''), refusing], other.logger);
      expect(other.lines.map((l) => [l.level, l.msg])).to.have.deep.members([
        ['warn', 'Redis keeps no AOF (appendonly no): a restart loses every count since the last RDB snapshot (save "3600 1")'],
        ['debug', 'could not read the Redis persistence settings (CONFIG GET refused); not checked'],
      ]);
    });
  });

  describe('on a Redis Cluster', () => {
    let cluster: RedisCluster;
    const open: RedisStore[] = [];
    let endpoint: RedisEndpoint;
    const openStore = async (checkIntervalMs = 60_000): Promise<RedisStore> => {
      const store = await RedisStore.open({ endpoint, ttlMs: TTL, commandTimeoutMs: 500, retryIntervalMs: 100, checkIntervalMs });
      open.push(store);
      return store;
    };

    before(async function () {
      requireRedis(this);
      cluster = await startRedisCluster(3);
      endpoint = { nodes: [{ host: '127.0.0.1', port: cluster.nodes[0].port }] };
    });
    after(() => cluster?.stop());
    afterEach(async () => {
      sinon.restore();
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('finds at the periodic check, which samples one slot per master, a master that lost its data while idle', async () => {
      const clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const store = await openStore(5000);
      const last = new Redis(cluster.nodes[2].port, '127.0.0.1');
      try {
        await last.flushall();
        clock.tick(4999);
        await last.ping();
        await last.ping();
        expect(store.epochState).to.equal('ok');
        clock.tick(1);
        await eventually(() => store.epochState === 'lost', 'the sampled check to find the loss');
        expect(store.refusal).to.include(`served by 127.0.0.1:${cluster.nodes[2].port}`);
        expect((await store.acceptReset()).accepted).to.equal(true);
      } finally {
        last.disconnect();
      }
    });

    it('keeps one epoch key per hash slot, in that slot; a master emptied loses only its slots, which a starting node notices too', async () => {
      const store = await openStore();
      const masters = cluster.nodes.map((n) => new Redis(n.port, '127.0.0.1'));
      try {
        const sizes = await Promise.all(masters.map((m) => m.dbsize()));
        expect(sizes.reduce((a, b) => a + b, 0)).to.equal(SLOTS);
        const probe = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0].port }]);
        try {
          const keys = await masters[0].keys('ic:{*}:e');
          for (const key of keys.slice(0, 50)) expect(await probe.cluster('KEYSLOT', key)).to.equal(slotOf(/\{(.*)\}/.exec(key)?.[1] ?? ''));
        } finally {
          probe.disconnect();
        }
        // Campaigns on every master, then one master loses its data.
        const ids = Array.from({ length: 30 }, (_, i) => `camp-${i}`);
        for (const id of ids) await store.create(info(id));
        // Many ids over every master looked up at once (one auto-pipeline per node), answered in order.
        const ghosts = Array.from({ length: 300 }, (_, i) => `ghost-${i}`);
        const asked = [...ghosts.slice(0, 150), ...ids, ...ghosts.slice(150)];
        expect(await store.exists(asked)).to.deep.equal(asked.map((id) => id.startsWith('camp-')));
        for (const id of ids) expect(await store.ingest(id, [{ at: 1, items: [item(id, 'u1')] }])).to.deep.equal(['counted']);
        const owned = await masters[1].keys('ic:{camp-*}:c');
        expect(owned.length).to.be.above(0);
        await masters[1].flushall();

        const lostId = /\{(.*)\}/.exec(owned[0])?.[1] as string;
        expect(await store.ingest(lostId, [{ at: 2, items: [item(lostId, 'u2')] }]).catch((err: unknown) => err)).to.be.instanceOf(StoreResetError);
        await store.checkEpoch();
        expect(store.refusal).to.match(new RegExp(`epoch keys of ${sizes[1]} of ${SLOTS} hash slots are gone \\(served by 127\\.0\\.0\\.1:${cluster.nodes[1].port}\\)`));
        const starting = await openStore();
        expect(starting.epochState, 'a node starting now sees some slots without their key').to.equal('lost');

        expect(await starting.acceptReset()).to.include({ accepted: true, repairedSlots: sizes[1] });
        await store.checkEpoch();
        expect(store.epochState).to.equal('ok');
        const kept = ids.find((id) => !owned.includes(`ic:{${id}}:c`)) as string;
        expect(await store.stats(kept, 2)).to.include({ total: 1 });
        expect(await store.exists([lostId])).to.deep.equal([false]);
      } finally {
        for (const m of masters) m.disconnect();
      }
    });
  });
});
