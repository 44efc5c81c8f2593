import { expect } from 'chai';
import { readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RecoveryRefusedError, QUARANTINE, type RecoveryMode } from '../../../src/storage/store.js';
import { eventually, FaultyFs } from '../../helpers/faulty-fs.js';
import { counted, ManualClock, T0, listDir, readRecords, segments, snapshots, useDataDir, users, type Node } from '../../helpers/storage.js';

const COUNTED = 2;

/**
 * Recovery with damaged, missing and failing files. Every case checks the exact acknowledged state
 * survives, or that the start refuses and leaves every file as it found it.
 */
describe('storage/Store recovery from damage', () => {
  const data = useDataDir('data');

  function boot(options: { recovery?: RecoveryMode; fs?: FaultyFs } = {}): Promise<Node> {
    return data.boot({ clock: new ManualClock(T0 + 60_000), store: { recovery: options.recovery, fs: options.fs } });
  }

  /** What a directory holds, byte for byte (to show a refused start changed nothing). */
  async function fingerprint(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of await listDir(data.dir)) {
      if ((await stat(join(data.dir, name))).isFile()) out[name] = (await readFile(join(data.dir, name))).toString('base64');
    }
    return out;
  }

  /**
   * Two snapshot generations and journal after each: c1 ends with 5 + 6 + 7 + 8 users, c2 with 3.
   * Returns the totals every intact recovery must show.
   */
  async function history(): Promise<{ c1: number; c2: number }> {
    const node = await boot();
    await node.createCampaign('c1');
    await node.createCampaign('c2');
    await node.record('c1', users(5, 'a-'));
    await node.record('c2', users(3, 'a-'));
    await node.store.snapshot(node.system.registry);
    await node.record('c1', users(6, 'b-'));
    await node.store.snapshot(node.system.registry);
    await node.record('c1', users(7, 'c-'));
    node.clock.ms += 1000;
    await node.record('c1', users(8, 'd-'));
    await node.crash();
    expect(await snapshots(data.dir)).to.have.length(2);
    return { c1: 26, c2: 3 };
  }

  async function expectTotals(node: Node, totals: { c1: number; c2: number }): Promise<void> {
    expect(await node.total('c1')).to.equal(totals.c1);
    expect(await node.total('c2')).to.equal(totals.c2);
  }

  async function quarantined(): Promise<string[]> {
    return readdir(join(data.dir, QUARANTINE)).catch(() => []);
  }

  async function expectRefused(): Promise<RecoveryRefusedError> {
    const before = await fingerprint();
    let caught: unknown;
    await boot().catch((e: unknown) => (caught = e));
    expect(caught, 'a strict start refuses').to.be.instanceOf(RecoveryRefusedError);
    expect(await fingerprint(), 'and changes nothing').to.deep.equal(before);
    expect((caught as Error).message).to.match(/RECOVERY=lenient/);
    return caught as RecoveryRefusedError;
  }

  describe('a damaged newest snapshot falls back to the previous generation and the journal since it, losing nothing', () => {
    const damages: [string, (path: string) => Promise<void>][] = [
      ['one flipped byte', async (p) => flip(p, 0.5, 1)],
      ['twenty flipped bytes', async (p) => flip(p, 0.3, 20)],
      ['a flipped byte in the end frame', async (p) => flip(p, 0.999, 1)],
      ['truncated to 0', async (p) => truncate(p, 0)],
      ['truncated by half', async (p) => truncate(p, Math.floor((await stat(p)).size / 2))],
    ];
    for (const [what, damage] of damages) {
      it(what, async () => {
        const totals = await history();
        const [older, newest] = await snapshots(data.dir);
        await damage(join(data.dir, newest));
        const node = await boot();
        expect(node.report.snapshot).to.equal(older);
        expect(node.report.missing).to.equal(0);
        expect(node.report.damaged.map((d) => d.file)).to.deep.equal([newest]);
        await expectTotals(node, totals);
        expect(await snapshots(data.dir), 'moved aside, not deleted').to.deep.equal([older]);
        expect((await quarantined()).some((q) => q.startsWith(newest))).to.equal(true);
        expect(node.log.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes(newest))).to.equal(true);
      });
    }

    it('deleted', async () => {
      const totals = await history();
      const [older, newest] = await snapshots(data.dir);
      await rm(join(data.dir, newest));
      const node = await boot();
      expect(node.report.snapshot).to.equal(older);
      await expectTotals(node, totals);
    });

    it('the next snapshot after a fallback keeps the journal the fallback needed until it is verified', async () => {
      const totals = await history();
      const [, newest] = await snapshots(data.dir);
      await flip(join(data.dir, newest), 0.5, 1);
      const node = await boot();
      await node.store.snapshot(node.system.registry);
      await node.crash();
      const again = await boot();
      await expectTotals(again, totals);
      expect(again.report.missing).to.equal(0);
    });
  });

  describe('damaged or missing journal', () => {
    /** The segment written after the newest snapshot, and its Counted records. */
    async function lastSegment() {
      const names = await segments(data.dir);
      const name = names[names.length - 1];
      const { records } = await readRecords(join(data.dir, name));
      return { name, path: join(data.dir, name), counted: records.filter((r) => r.type === COUNTED) };
    }

    it('a flipped byte mid-segment: a strict start refuses naming the segment; a lenient one skips just that record and reads on', async () => {
      const totals = await history();
      const { name, path, counted } = await lastSegment();
      const victim = counted[0];
      expect(victim.count).to.equal(7);
      const bytes = await readFile(path);
      bytes[victim.offset + 20] ^= 0x08;
      await writeFile(path, bytes);

      const refused = await expectRefused();
      expect(refused.message).to.include(name);
      expect(refused.report.missing).to.equal(1);

      const node = await boot({ recovery: 'lenient' });
      expect(node.report.missing).to.equal(1);
      expect(node.report.damaged.map((d) => d.file)).to.deep.equal([name]);
      await expectTotals(node, { c1: totals.c1 - 7, c2: totals.c2 });
      expect(await node.record('c1', users(8, 'd-')), 'the records after the damage were read').to.deep.equal(Array(8).fill('duplicate'));
      expect((await readFile(path)).equals(bytes), 'never truncated or rewritten in place').to.equal(true);
      expect((await quarantined()).some((q) => q.startsWith(name)), 'a copy kept in quarantine').to.equal(true);
      expect(node.log.some((l) => l.level === 'error' && /lost records/.test(l.msg ?? ''))).to.equal(true);
    });

    it('a zeroed frame length at the start of a segment is damage, not a zero-filled tail', async () => {
      await history();
      const { name, path, counted } = await lastSegment();
      const bytes = await readFile(path);
      bytes.writeUInt32LE(0, 0);
      await writeFile(path, bytes);
      const refused = await expectRefused();
      expect(refused.message).to.include(name);
      const node = await boot({ recovery: 'lenient' });
      expect(await node.record('c1', users(8, 'd-')), 'read on past it').to.deep.equal(Array(8).fill('duplicate'));
      expect(counted).to.have.length(2);
    });

    it('a deleted segment between two others is a gap: refused, and lenient counts what is missing', async () => {
      const totals = await history();
      const [older] = await snapshots(data.dir);
      await rm(join(data.dir, (await snapshots(data.dir))[1]));
      // Without the newest snapshot, the older one needs both segments written since it.
      const names = await segments(data.dir);
      expect(names).to.have.length(2);
      const { records } = await readRecords(join(data.dir, names[0]));
      await rm(join(data.dir, names[0]));
      const refused = await expectRefused();
      expect(refused.report.missing).to.equal(records.length);
      expect(refused.report.gaps[0]).to.include({ file: names[1] });
      const node = await boot({ recovery: 'lenient' });
      expect(node.report.snapshot).to.equal(older);
      expect(await node.total('c1')).to.equal(totals.c1 - 6);
    });

    it('an emptied segment between two others is a gap too', async () => {
      await history();
      await rm(join(data.dir, (await snapshots(data.dir))[1]));
      const names = await segments(data.dir);
      await truncate(join(data.dir, names[0]), 0);
      const refused = await expectRefused();
      expect(refused.report.missing).to.be.above(0);
    });

    it('every snapshot unreadable and the journal compacted behind them: refused, nothing can be rebuilt', async () => {
      await history();
      for (const s of await snapshots(data.dir)) await truncate(join(data.dir, s), 3);
      const refused = await expectRefused();
      expect(refused.report.missing).to.be.above(0);
    });

    it('records written again after a failed sync (the failed segment could not be cut back) are read once', async () => {
      const totals = await history();
      const fs = new FaultyFs();
      const node = await boot({ fs });
      await node.record('c2', ['synced-first']);
      fs.inject({ op: 'datasync', file: /^journal-/, error: 'EIO', times: 1 });
      fs.inject({ op: 'truncate', error: 'EIO' });
      const outcome = node.record('c2', users(4, 'again-'));
      await eventually(() => !node.store.journal.health.ok, 'the sync to fail');
      await eventually(() => node.store.journal.health.ok, 'the journal to write the held records to a fresh segment', 5000);
      expect(await outcome).to.deep.equal(Array(4).fill('counted'));
      await node.crash();
      const again = await boot();
      expect(again.report.repeated, 'the copies in the failed segment are skipped').to.be.above(0);
      expect(again.report.missing).to.equal(0);
      await expectTotals(again, { c1: totals.c1, c2: totals.c2 + 5 });
    });

    it('a torn tail (what kill -9 or a power cut leaves) is no loss: the start goes on', async () => {
      const totals = await history();
      const { path } = await lastSegment();
      await writeFile(path, Buffer.concat([await readFile(path), Buffer.from([40, 0, 0, 0, 1, 2, 3])]));
      const node = await boot();
      expect(node.report.torn).to.have.length(1);
      expect(node.report.missing).to.equal(0);
      await expectTotals(node, totals);
    });
  });

  describe('a failing disk during snapshots', () => {
    it('a snapshot that hits a full disk leaves no .tmp, keeps every generation and segment, and the journal goes on', async () => {
      const totals = await history();
      const fs = new FaultyFs();
      const node = await boot({ fs });
      const before = await listDir(data.dir);
      fs.inject({ op: 'writev', file: /^snapshot-.*\.tmp$/, error: 'ENOSPC' });
      let caught: unknown;
      await node.store.snapshot(node.system.registry).catch((e: unknown) => (caught = e));
      expect((caught as { code?: string }).code).to.equal('ENOSPC');
      const after = await listDir(data.dir);
      expect(after.filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
      expect(after.filter((n) => !before.includes(n)), 'at most the new segment the rotation opened').to.have.length.at.most(1);
      expect(before.filter((n) => !after.includes(n)), 'nothing removed').to.deep.equal([]);
      fs.heal();
      await node.record('c2', ['after-failed-snapshot']);
      await node.crash();
      const again = await boot();
      await expectTotals(again, { c1: totals.c1, c2: totals.c2 + 1 });
    });

    it('a snapshot that does not read back is set aside and nothing older is removed', async () => {
      const totals = await history();
      const fs = new FaultyFs();
      const node = await boot({ fs });
      const before = await snapshots(data.dir);
      fs.inject({ op: 'read', file: /^snapshot-\d+\.bin$/, error: 'EIO', times: 1 });
      let caught: unknown;
      await node.store.snapshot(node.system.registry).catch((e: unknown) => (caught = e));
      expect(String(caught)).to.match(/did not read back/);
      expect(await snapshots(data.dir)).to.deep.equal(before);
      expect(await quarantined()).to.have.length(1);
      await node.crash();
      await expectTotals(await boot(), totals);
    });

    it('a start on a disk that cannot take a new segment serves, unhealthy, instead of crashing', async () => {
      await history();
      const fs = new FaultyFs();
      fs.inject({ op: 'open', file: /^journal-/, flags: 'w', error: 'ENOSPC', times: 1 });
      const node = await boot({ fs });
      expect(node.store.journal.health).to.include({ ok: false, code: 'ENOSPC' });
      expect(await node.total('c1'), 'reads are served').to.equal(26);
      await eventually(() => node.store.journal.health.ok, 'the journal to retry and recover', 5000);
    });

    it('a clean shutdown and restart sets nothing aside and logs no error (the empty newest segment is reused)', async () => {
      const node = await counted(boot(), 3);
      await node.shutdown();
      const again = await boot();
      expect(again.report.quarantined).to.deep.equal([]);
      expect(await quarantined()).to.deep.equal([]);
      expect(again.log.filter((l) => l.level === 'error' || l.level === 'fatal')).to.deep.equal([]);
      expect(await again.total('c1')).to.equal(3);
    });

    it('a segment holding only a torn write, whose name the new segment takes, is moved aside first', async () => {
      const node = await boot();
      await node.createCampaign('c1');
      await node.shutdown();
      const names = await segments(data.dir);
      const newest = names[names.length - 1];
      await writeFile(join(data.dir, newest), Buffer.from([40, 0, 0, 0, 9, 9, 9]));
      const again = await boot();
      expect(again.report.quarantined.some((q) => q.includes(newest))).to.equal(true);
      expect((await quarantined()).some((q) => q.startsWith(newest))).to.equal(true);
    });

    it('leftover .tmp files from an interrupted snapshot are removed at start', async () => {
      await history();
      await writeFile(join(data.dir, 'snapshot-0000000000000099.bin.tmp'), 'half');
      await boot();
      expect((await listDir(data.dir)).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
    });
  });
});

/** Flips `count` bytes from `at` (a fraction of the file's length). */
async function flip(path: string, at: number, count: number): Promise<void> {
  const bytes = await readFile(path);
  const start = Math.min(bytes.length - count, Math.floor(bytes.length * at));
  for (let i = start; i < start + count; i++) bytes[i] ^= 0x5a;
  await writeFile(path, bytes);
}
