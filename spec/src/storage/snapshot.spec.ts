import { expect } from 'chai';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sinon from 'sinon';
import { captureState, countImpression, newCampaignState, restoreCampaignState } from '../../../actors/campaign/campaign.js';
import { DedupeTable } from '../../../actors/counting/dedupe.js';
import type { RegistryDescription, RegistryEvent } from '../../../actors/registry/registry.js';
import { nodeFs } from '../../../src/storage/fs.js';
import { readSnapshot, SnapshotWriter, snapshotName } from '../../../src/storage/snapshot.js';
import { counted, DAY_MS, HOUR_MS, ManualClock, T0, listDir, segments, snapshots, useDataDir, users, type Node } from '../../helpers/storage.js';

describe('storage/snapshot', () => {
  const data = useDataDir();

  function boot(clock = new ManualClock()): Promise<Node> {
    return data.boot({ clock });
  }

  describe('file format', () => {
    function sampleImage() {
      const state = newCampaignState({ info: { id: 'c1', name: 'spring', startTime: 0, createdAt: T0 }, ttlMs: HOUR_MS });
      for (let i = 0; i < 300; i++) countImpression(state, { campaignId: 'c1', userId: `u${i % 200}`, adId: 'a', impressionId: `imp-${i}` }, T0 + i * 1000);
      return captureState(state);
    }

    async function write(path: string, boundary: number, images: ReturnType<typeof sampleImage>[]): Promise<void> {
      const file = await nodeFs.open(path, 'w');
      const writer = new SnapshotWriter(file);
      await writer.header(boundary, T0);
      for (const [i, image] of images.entries()) await writer.campaign(image, boundary + i);
      await writer.end(images.length);
      await file.close();
    }

    async function read(path: string) {
      const file = await nodeFs.open(path, 'r');
      try {
        return await readSnapshot(file);
      } finally {
        await file.close();
      }
    }

    it('reads back exactly the campaign images it wrote (windows, dedupe and idempotency tables)', async () => {
      const image = sampleImage();
      expect(image.total).to.equal(200);
      expect(image.idempotency).to.not.equal(undefined);
      const path = join(data.dir, snapshotName(7));
      await write(path, 7, [image, image]);
      const loaded = await read(path);
      expect(loaded.boundary).to.equal(7);
      expect(loaded.campaigns.map((c) => c.seq)).to.deep.equal([7, 8]);
      expect(loaded.campaigns[0].image).to.deep.equal(image);
    });

    describe('an older snapshot whose windows are a ring of minutes (before they were read from analytics)', () => {
      // What the older code captured for sampleImage: counted users u0..u199 at T0 + i s.
      const times = Array.from({ length: 200 }, (_, i) => T0 + i * 1000);
      const minuteOf = (t: number) => Math.floor(t / 60_000);
      const head = minuteOf(T0 + 299_000);
      function olderImage(withAnalytics: boolean) {
        const ring = new Uint32Array(1_440);
        for (const t of times) ring[minuteOf(t) % 1_440]++;
        const { analytics, ...image } = sampleImage();
        return { ...image, ...(withAnalytics && { analytics }), windows: { ring, head, hourSum: 200, daySum: 200 } };
      }
      const inWindow = (at: number, minutes: number) => times.filter((t) => minuteOf(t) <= minuteOf(at) && minuteOf(t) > minuteOf(at) - minutes).length;

      for (const withAnalytics of [false, true]) {
        it(`answers last_hour and last_day from its ring exactly as before, on both sides of each edge (${withAnalytics ? 'with' : 'without'} an analytics part)`, async () => {
          // Arrange
          const path = join(data.dir, snapshotName(3));
          await write(path, 3, [olderImage(withAnalytics)]);

          // Act
          const loaded = (await read(path)).campaigns[0].image;
          const state = restoreCampaignState(loaded, HOUR_MS);

          // Assert
          expect(loaded.windows.ring?.length).to.equal(1_440);
          for (const edge of [minuteOf(T0) + 60, minuteOf(T0 + 299_000) + 60, minuteOf(T0) + 1_440, head + 1_440]) {
            for (const at of [edge * 60_000 - 1, edge * 60_000]) {
              expect(state.analytics?.lastHour(at), `last hour at ${at}`).to.equal(inWindow(at, 60));
              expect(state.analytics?.lastDay(at), `last day at ${at}`).to.equal(inWindow(at, 1_440));
            }
          }
          expect(captureState(state).windows.ring, 'written back without a ring').to.equal(undefined);
        });
      }
    });

    it('refuses a snapshot without its end frame, or with a corrupt frame', async () => {
      const path = join(data.dir, snapshotName(1));
      await write(path, 1, [sampleImage()]);
      const bytes = await readFile(path);

      await truncate(path, bytes.length - 10);
      let err: unknown;
      await read(path).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(Error);

      const flipped = Buffer.from(bytes);
      flipped[Math.floor(bytes.length / 2)] ^= 0xff;
      await writeFile(path, flipped);
      err = undefined;
      await read(path).catch((e: unknown) => (err = e));
      expect(String(err)).to.match(/checksum mismatch/);
    });
  });

  describe('Store.snapshot and compaction', () => {
    it('is due once the journal has grown by the given bytes and by the last snapshot\'s size, and not a byte before', async () => {
      const node = await counted(boot(), 500);
      const grown = node.store.journal.appendedBytes;
      expect(grown).to.be.above(0);
      expect(node.store.journalGrown(grown)).to.equal(true);
      expect(node.store.journalGrown(grown + 1)).to.equal(false);
      const report = await node.store.snapshot(node.system.registry);
      expect(node.store.journalGrown(1), 'just after a snapshot').to.equal(false);
      const from = node.store.journal.appendedBytes;
      let n = 0;
      while (node.store.journal.appendedBytes - from < report.bytes) {
        expect(node.store.journalGrown(1), `below the snapshot's own size (${node.store.journal.appendedBytes - from} of ${report.bytes} bytes)`).to.equal(false);
        await node.record('c1', [`more-${n++}`]);
      }
      expect(n, 'several steps below the size were checked').to.be.above(3);
      expect(node.store.journalGrown(1), 'at the snapshot\'s size').to.equal(true);
    });

    it('keeps SNAPSHOT_KEEP generations, each with the journal since it, and deletes only what none of them needs', async () => {
      const first = await counted(boot(), 3);
      await first.crash();
      const node = await boot();
      await node.record('c1', users(6));
      const before = await segments(data.dir);
      expect(before).to.have.length(2);

      const report = await node.store.snapshot(node.system.registry);
      expect(report).to.include({ campaigns: 1 });
      expect(report.bytes).to.be.above(0);
      const after = await listDir(data.dir);
      expect(after.filter((n) => before.includes(n)), 'covered segments are gone').to.deep.equal([]);
      expect(await snapshots(data.dir)).to.deep.equal([report.file]);
      const boundary = Number(/(\d{16})/.exec(report.file)?.[1]);
      expect(await segments(data.dir)).to.deep.equal([`journal-${String(boundary).padStart(16, '0')}.log`]);

      await node.record('c1', ['after']);
      const second = await node.store.snapshot(node.system.registry);
      expect(await snapshots(data.dir), 'the previous generation is kept').to.deep.equal([report.file, second.file]);
      expect(await segments(data.dir), 'with the journal since it').to.deep.equal([`journal-${String(boundary).padStart(16, '0')}.log`, second.file.replace('snapshot', 'journal').replace('.bin', '.log')]);

      await node.record('c1', ['later']);
      const third = await node.store.snapshot(node.system.registry);
      expect(await snapshots(data.dir), 'two generations by default').to.deep.equal([second.file, third.file]);
      expect(await segments(data.dir)).to.deep.equal([second.file, third.file].map((f) => f.replace('snapshot', 'journal').replace('.bin', '.log')));
    });

    it('a restart from the snapshot restores totals, windows, dedupe windows and idempotency keys', async () => {
      const clock = new ManualClock(T0);
      const node = await boot(clock);
      await node.createCampaign('c1');
      await node.createCampaign('c2');
      expect(await node.record('c1', users(20), (u) => `imp-${u}`)).to.deep.equal(Array(20).fill('counted'));
      expect(await node.record('c1', ['user-0'], () => 'imp-repeat')).to.deep.equal(['duplicate']);
      clock.ms = T0 + 2 * HOUR_MS;
      expect(await node.record('c2', users(5))).to.deep.equal(Array(5).fill('counted'));
      await node.shutdown();

      clock.ms = T0 + 2 * HOUR_MS + 10 * 60_000;
      const next = await boot(clock);
      expect(next.report.snapshot).to.match(/^snapshot-\d{16}\.bin$/);
      expect(next.report).to.include({ campaigns: 2, records: 0 });
      expect(await next.counter.campaigns.stats('c1')).to.deep.equal({ lastHour: 0, lastDay: 20, total: 20 });
      expect(await next.counter.campaigns.stats('c2')).to.deep.equal({ lastHour: 5, lastDay: 5, total: 5 });
      expect(await next.record('c2', users(5)), 'dedupe window restored').to.deep.equal(Array(5).fill('duplicate'));
      expect(await next.record('c1', users(20), (u) => `imp-${u}`), 'a retry returns the original outcome').to.deep.equal(Array(20).fill('replayed_counted'));
      expect(await next.record('c1', ['user-0'], () => 'imp-repeat')).to.deep.equal(['replayed_duplicate']);
      expect(await next.total('c1'), 'retries never count twice').to.equal(20);
      expect(await next.record('c1', ['user-0'], () => 'imp-fresh'), 'past the TTL the user counts again').to.deep.equal(['counted']);
      clock.ms = T0 + DAY_MS + 1;
      expect(await next.record('c1', ['user-1'], () => 'imp-user-1'), 'idempotency keys expire after a day').to.deep.equal(['counted']);
      expect(await next.total('c1')).to.equal(22);
    });

    it('replays journal records written after the snapshot exactly once', async () => {
      const clock = new ManualClock(T0);
      const node = await boot(clock);
      await node.createCampaign('c1');
      await node.record('c1', users(10, 'before-'));
      await node.store.snapshot(node.system.registry);
      clock.ms = T0 + 1000;
      await node.createCampaign('c2');
      await node.record('c1', users(4, 'after-'), (u) => `imp-${u}`);
      await node.record('c2', users(3, 'after-'));
      await node.crash();

      const next = await boot(clock);
      expect(next.report.snapshot).to.not.equal(undefined);
      expect(next.report.records).to.be.above(0);
      expect(await next.total('c1')).to.equal(14);
      expect(await next.total('c2')).to.equal(3);
      expect(await next.record('c1', [...users(10, 'before-'), ...users(4, 'after-')])).to.deep.equal(Array(14).fill('duplicate'));
      expect(await next.record('c1', users(4, 'after-'), (u) => `imp-${u}`)).to.deep.equal(Array(4).fill('replayed_counted'));
      expect(await next.total('c1')).to.equal(14);
    });

    it('does not count twice what both the snapshot and a not-yet-deleted old segment hold', async () => {
      const node = await counted(boot(), 10);
      const [old] = await segments(data.dir);
      await copyFile(join(data.dir, old), join(data.dir, 'old.keep'));
      await node.store.snapshot(node.system.registry);
      await node.record('c1', users(3, 'later-'));
      await node.crash();
      // A crash between writing the snapshot and deleting what it covers leaves the old segment.
      await copyFile(join(data.dir, 'old.keep'), join(data.dir, old));

      const next = await boot();
      expect(await next.total('c1')).to.equal(13);
    });

    it('counts impressions still in the journal buffer when the snapshot starts exactly once', async () => {
      const node = await boot();
      await node.createCampaign('c1');
      const inFlight = node.record('c1', users(50));
      const snapshot = node.store.snapshot(node.system.registry);
      expect(await inFlight).to.deep.equal(Array(50).fill('counted'));
      await snapshot;
      await node.record('c1', users(5, 'later-'));
      await node.crash();
      const next = await boot();
      expect(await next.total('c1')).to.equal(55);
    });

    it('keeps an impression acknowledged between a campaign being captured and the snapshot barrier', async () => {
      const node = await counted(boot(), 5);
      // Another request's continuation runs right after the capture reply, before the snapshot code
      // resumes: its facts are appended after the image was taken.
      const registry = node.system.registry;
      const send = registry.send.bind(registry);
      let interloper: Promise<unknown> | undefined;
      sinon.replace(registry, 'send', (event: RegistryEvent) => {
        send(event);
        if (event.type === 'campaign.capture' && interloper === undefined) {
          queueMicrotask(() => (interloper = node.record('c1', ['interloper'])));
        }
      });
      await node.store.snapshot(registry);
      expect(await interloper, 'acknowledged as counted').to.deep.equal(['counted']);
      sinon.restore();
      await node.crash();

      const next = await boot();
      expect(await next.total('c1')).to.equal(6);
      expect(await next.record('c1', ['interloper'])).to.deep.equal(['duplicate']);
    });

    it('a snapshot taken while impressions keep arriving restores exactly what was acknowledged', async () => {
      const clock = new ManualClock(T0);
      const node = await boot(clock);
      const campaigns = ['c1', 'c2', 'c3', 'c4', 'c5'];
      for (const c of campaigns) await node.createCampaign(c);
      const counted = new Map<string, Set<string>>(campaigns.map((c) => [c, new Set<string>()]));
      const acks: Promise<void>[] = [];
      let n = 0;
      let pumping = true;
      const pump = (): void => {
        if (!pumping) return;
        const c = campaigns[n % campaigns.length];
        const batch = Array.from({ length: 20 }, (_, k) => (k % 2 === 0 ? `u${(n * 7 + k * 13) % 300}` : `new-${n}-${k}`));
        clock.ms = T0 + n;
        n++;
        acks.push(
          node.record(c, batch).then((outcomes) =>
            outcomes.forEach((o, k) => {
              if (o === 'counted') counted.get(c)?.add(batch[k]);
            }),
          ),
        );
        setImmediate(pump);
      };
      pump();
      await new Promise((r) => setTimeout(r, 20));
      const before = n;
      const report = await node.store.snapshot(node.system.registry);
      const during = n - before;
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      pumping = false;
      await Promise.all(acks);
      expect(during, 'impressions kept arriving during the snapshot').to.be.above(0);
      expect(report.campaigns).to.equal(5);
      await node.crash();

      const next = await boot(clock);
      expect(next.report.snapshot).to.equal(report.file);
      expect(next.report.records, 'the tail after the snapshot is replayed').to.be.above(0);
      for (const c of campaigns) {
        const users = [...(counted.get(c) ?? [])];
        expect(await next.total(c), c).to.equal(users.length);
        expect(await next.record(c, users), c).to.deep.equal(Array(users.length).fill('duplicate'));
      }
    });

    it('shares one snapshot between callers that ask while it runs', async () => {
      const node = await boot();
      await node.createCampaign('c1');
      const a = node.store.snapshot(node.system.registry);
      const b = node.store.snapshot(node.system.registry);
      expect(a).to.equal(b);
      await a;
      expect(await snapshots(data.dir)).to.have.length(1);
    });

    it('captures a campaign suspended after crashing too often from its parked state', async () => {
      const node = await data.boot({ maxRestarts: 0 });
      await node.createCampaign('c1');
      await node.record('c1', users(3));
      // Crash the campaign actor once: with no restarts allowed it is suspended, its state parked.
      const stub = sinon.stub(DedupeTable.prototype, 'admitDigest').throws(new Error('boom'));
      expect(await node.record('c1', ['crasher'])).to.deep.equal(['unavailable']);
      stub.restore();
      const described = await new Promise<RegistryDescription>((reply) => node.system.registry.send({ type: 'describe', reply }));
      expect(described.suspended, 'suspended').to.equal(1);
      const report = await node.store.snapshot(node.system.registry);
      expect(report.campaigns).to.equal(1);
      await node.crash();
      const next = await boot();
      expect(await next.total('c1')).to.equal(3);
    });
  });
});
