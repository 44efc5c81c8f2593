import { expect } from 'chai';
import type { InspectionEvent } from 'xstate';
import { systemClock } from '../../actors/counting/clock.js';
import { startCounterSystem, type CounterSystem } from '../../actors/system.js';
import { Counter } from '../../src/counter.js';
import { Inspector, sanitize, type InspectableSystem, type Watcher } from '../../src/inspector.js';
import { until } from '../helpers/sse.js';

/** Wraps the real system's `inspect` to count attachments and detachments. */
function countingSystem(system: CounterSystem) {
  const calls = { attached: 0, detached: 0 };
  const inspectable: InspectableSystem = {
    inspect(observer: (e: InspectionEvent) => void) {
      calls.attached++;
      const sub = system.registry.system.inspect(observer);
      return {
        unsubscribe() {
          calls.detached++;
          sub.unsubscribe();
        },
      };
    },
  };
  return { calls, inspectable };
}

/** Every SSE record a watcher's stream carries, read as it flows. */
function collect(watcher: Watcher): { records: any[]; text: () => string } {
  const records: any[] = [];
  let raw = '';
  watcher.stream.setEncoding('utf8');
  watcher.stream.on('data', (chunk: string) => {
    raw += chunk;
    for (const line of chunk.split('\n')) if (line.startsWith('data: ')) records.push(JSON.parse(line.slice(6)));
  });
  return { records, text: () => raw };
}

describe('Inspector', () => {
  let system: CounterSystem;
  let counter: Counter;
  let campaignId: string;

  beforeEach(async () => {
    system = startCounterSystem({ clock: systemClock, ttlMs: 3_600_000, tickMs: 60_000, sweepBudget: 65_536, supervision: { maxRestarts: 5, windowMs: 60_000 } });
    counter = new Counter({ registry: system.registry, clock: systemClock, askTimeoutMs: 1000 });
    campaignId = (await counter.campaigns.create({ name: 'c', startTime: 0 })).id;
  });
  afterEach(() => system.stop());

  const record = (userId: string) => counter.impressions.record({ campaignId, userId, adId: 'ad-1' });

  describe('attaching only while watched', () => {
    it('attaches the inspection hook with the first watcher and detaches it when the last leaves', () => {
      const { calls, inspectable } = countingSystem(system);
      const inspector = new Inspector({ system: inspectable });
      expect(inspector.attached).to.equal(false);

      const first = inspector.watch();
      const second = inspector.watch();
      expect(calls).to.deep.equal({ attached: 1, detached: 0 });
      expect(inspector.attached).to.equal(true);

      first.close();
      expect(calls.detached, 'one watcher is still there').to.equal(0);
      second.close();
      expect(calls).to.deep.equal({ attached: 1, detached: 1 });
      expect(inspector.attached).to.equal(false);
      expect(inspector.watching).to.equal(0);
    });

    it('detaches when a stream is destroyed from outside (the client went away)', async () => {
      const { calls, inspectable } = countingSystem(system);
      const inspector = new Inspector({ system: inspectable });
      inspector.watch().stream.destroy();
      await until(() => calls.detached === 1, 'the hook to be detached');
      expect(inspector.attached).to.equal(false);
    });

    it('sees nothing once detached', async () => {
      // Counted at the hook, not at the stream: a closed stream receives nothing either way.
      let delivered = 0;
      const inspectable: InspectableSystem = {
        inspect: (observer) =>
          system.registry.system.inspect((e) => {
            delivered++;
            observer(e);
          }),
      };
      const inspector = new Inspector({ system: inspectable });
      const watcher = inspector.watch({ types: ['impressions'] });
      const seen = collect(watcher);
      await record('u1');
      await until(() => seen.records.length > 0, 'the first impression event');
      watcher.close();
      const before = delivered;
      await record('u2');
      await new Promise((r) => setImmediate(r));
      expect(delivered, 'inspection events reaching the hook after the last watcher left').to.equal(before);
    });

    it('closes every watcher on close() (shutdown) and detaches', () => {
      const { calls, inspectable } = countingSystem(system);
      const inspector = new Inspector({ system: inspectable });
      const watchers = [inspector.watch(), inspector.watch()];
      inspector.close();
      expect(watchers.map((w) => w.isClosed)).to.deep.equal([true, true]);
      expect(calls.detached).to.equal(1);
    });
  });

  describe('records', () => {
    it('streams the events a campaign actor processes, with actor, kind and type', async () => {
      const inspector = new Inspector({ system: system.registry.system });
      const seen = collect(inspector.watch({ actors: [`campaign:${campaignId}`] }));
      await record('u1');
      await until(() => seen.records.some((r) => r.kind === 'snapshot'), 'the snapshot after processing');
      const event = seen.records.find((r) => r.kind === 'event' && r.type === 'impressions');
      expect(event).to.include({ actor: `campaign:${campaignId}`, kind: 'event' });
      expect(event.seq).to.be.a('number');
      expect(event.time).to.be.a('number');
      const snapshot = seen.records.find((r) => r.kind === 'snapshot' && r.type === 'impressions');
      expect(snapshot.status).to.equal('active');
      expect(snapshot.event.out, 'the outcome, filled in by processing').to.deep.equal(['counted']);
      expect(snapshot, 'never the context').not.to.have.property('context');
    });

    it('never serializes reply callbacks', async () => {
      const inspector = new Inspector({ system: system.registry.system });
      const seen = collect(inspector.watch());
      await record('u1');
      await counter.campaigns.stats(campaignId);
      await until(() => seen.records.some((r) => r.type === 'stats' && r.actor.startsWith('campaign:')), 'the stats ask');
      const events = seen.records.filter((r) => r.event !== undefined).map((r) => r.event);
      expect(events.length).to.be.greaterThan(3);
      for (const e of events) {
        expect(e).not.to.have.any.keys('reply', 'done');
      }
    });

    it('redacts user ids by default with a stable pseudonym, and shows them with redact off', async () => {
      const inspector = new Inspector({ system: system.registry.system });
      const redacted = collect(inspector.watch({ types: ['impressions'] }));
      const clear = collect(inspector.watch({ types: ['impressions'], redact: false }));
      await record('alice-secret-1');
      await record('alice-secret-1');
      await until(() => redacted.records.length >= 4 && clear.records.length >= 4, 'both streams');

      expect(redacted.text()).not.to.include('alice-secret-1');
      const pseudonyms = redacted.records.map((r) => r.event.items[0].userId as string);
      expect(pseudonyms[0]).to.match(/^user:[0-9a-f]{12}$/);
      expect(new Set(pseudonyms).size, 'the same user reads the same').to.equal(1);

      expect(clear.records[0].event.items[0].userId).to.equal('alice-secret-1');
    });

    it('filters by actor and type, with prefixes and exclusions', async () => {
      const inspector = new Inspector({ system: system.registry.system });
      const registryOnly = collect(inspector.watch({ actors: ['registry'], types: ['event'] }));
      const campaigns = collect(inspector.watch({ actors: ['campaign:*'], types: ['!snapshot'] }));
      const statsOnly = collect(inspector.watch({ types: ['stats'] }));
      await record('u1');
      await counter.campaigns.stats(campaignId);
      await until(() => statsOnly.records.length >= 4 && campaigns.records.length >= 2, 'filtered streams');

      expect(registryOnly.records.length).to.be.greaterThan(0);
      for (const r of registryOnly.records) expect([r.actor, r.kind]).to.deep.equal(['registry', 'event']);
      for (const r of campaigns.records) {
        expect(r.actor).to.match(/^campaign:/);
        expect(r.kind).not.to.equal('snapshot');
      }
      for (const r of statsOnly.records) expect(r.type).to.equal('stats');
    });

    it('numbers records once, shared by every watcher that sees them', async () => {
      const inspector = new Inspector({ system: system.registry.system });
      const a = collect(inspector.watch({ types: ['impressions'] }));
      const b = collect(inspector.watch({ types: ['impressions'], redact: false }));
      await record('u1');
      await until(() => a.records.length >= 4 && b.records.length >= 4, 'both streams');
      expect(a.records.map((r) => r.seq)).to.deep.equal(b.records.map((r) => r.seq));
    });

    it('keeps an actor working when serialization fails', async () => {
      const inspector = new Inspector({ system: system.registry.system });
      const watcher = inspector.watch();
      watcher.push = () => {
        throw new Error('broken watcher');
      };
      expect(await record('u1')).to.equal(true);
      expect((await counter.campaigns.stats(campaignId)).total).to.equal(1);
      watcher.close();
    });
  });

  describe('slow clients', () => {
    it('drops a watcher that falls more than maxBufferBytes behind, and detaches', async () => {
      const { calls, inspectable } = countingSystem(system);
      const inspector = new Inspector({ system: inspectable, maxBufferBytes: 8 * 1024 });
      const slow = inspector.watch(); // nobody reads its stream
      const items = Array.from({ length: 50 }, (_, i) => ({ campaignId, userId: `u${i}`, adId: 'ad-1' }));
      for (let i = 0; i < 200 && !slow.isClosed; i++) {
        await counter.impressions.recordMany(items);
        await new Promise((r) => setImmediate(r));
      }
      expect(slow.isClosed, 'dropped').to.equal(true);
      expect(slow.stream.destroyed).to.equal(true);
      expect(inspector.watching).to.equal(0);
      expect(calls.detached).to.equal(1);
    });

    it('keeps a watcher that reads along', async () => {
      const inspector = new Inspector({ system: system.registry.system, maxBufferBytes: 64 * 1024 });
      const reader = inspector.watch();
      const seen = collect(reader);
      const items = Array.from({ length: 50 }, (_, i) => ({ campaignId, userId: `u${i}`, adId: 'ad-1' }));
      for (let i = 0; i < 50; i++) {
        await counter.impressions.recordMany(items);
        await new Promise((r) => setImmediate(r));
      }
      expect(reader.isClosed).to.equal(false);
      expect(seen.records.length).to.be.greaterThan(100);
      reader.close();
    });
  });

  describe('sanitize', () => {
    const pseudonym = (id: string) => `p(${id})`;

    it('leaves functions out and labels what is not plain data', () => {
      class Table {}
      const out = sanitize(
        { type: 't', reply: () => 1, table: new Table(), map: new Map([[1, 2]]), digest: new Uint32Array(4), err: new Error('boom'), big: 10n, nothing: null },
        undefined,
        0,
      );
      expect(out).to.deep.equal({ type: 't', table: '[Table]', map: '[Map(1)]', digest: '[Uint32Array]', err: { name: 'Error', message: 'boom' }, big: '10', nothing: null });
    });

    it('bounds arrays, strings and depth', () => {
      const out = sanitize({ items: Array.from({ length: 25 }, (_, i) => i), long: 'x'.repeat(300), deep: { a: { b: { c: { d: { e: 1 } } } } } }, undefined, 0) as any;
      expect(out.items).to.have.length(21);
      expect(out.items[20]).to.equal('…5 more');
      expect(out.long).to.have.length(257);
      expect(out.deep.a.b.c.d).to.equal('[…]');
    });

    it('pseudonymises userId and user_id at any depth', () => {
      expect(sanitize({ items: [{ userId: 'a', adId: 'x' }], body: { user_id: 'b' } }, pseudonym, 0)).to.deep.equal({
        items: [{ userId: 'p(a)', adId: 'x' }],
        body: { user_id: 'p(b)' },
      });
    });

    it('copies a "__proto__" key as data, never as a prototype', () => {
      const input = JSON.parse('{"__proto__": {"polluted": true}, "type": "t"}') as unknown;
      const out = sanitize(input, undefined, 0) as Record<string, unknown>;
      expect(Object.keys(out)).to.deep.equal(['__proto__', 'type']);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(JSON.parse(JSON.stringify(out))).to.deep.equal(JSON.parse('{"__proto__": {"polluted": true}, "type": "t"}'));
    });
  });
});
