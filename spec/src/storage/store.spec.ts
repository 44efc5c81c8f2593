import { expect } from 'chai';
import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentName } from '../../../src/storage/journal.js';
import { snapshotName } from '../../../src/storage/snapshot.js';
import { counted, HOUR_MS, ManualClock, T0, listDir, readRecords, segments, snapshots, useDataDir, users, type Node } from '../../helpers/storage.js';

describe('storage/Store.open (recovery)', () => {
  const data = useDataDir('data');

  function boot(clock = new ManualClock()): Promise<Node> {
    return data.boot({ clock });
  }

  /**
   * Writes two campaigns' worth of history and stops without a snapshot. The last frame of the
   * segment is the `late` batch of c1 (five users at T0 + 1 minute).
   */
  async function history(): Promise<{ segment: string; lastFrame: { offset: number; end: number } }> {
    const clock = new ManualClock(T0);
    const node = await boot(clock);
    await node.createCampaign('c1');
    await node.createCampaign('c2');
    expect(await node.record('c1', users(10, 'early-'))).to.deep.equal(Array(10).fill('counted'));
    expect(await node.record('c2', users(7, 'early-'))).to.deep.equal(Array(7).fill('counted'));
    clock.ms = T0 + 60_000;
    expect(await node.record('c1', users(5, 'late-'))).to.deep.equal(Array(5).fill('counted'));
    await node.crash();
    const [segment] = await segments(data.dir);
    const { records } = await readRecords(join(data.dir, segment));
    const last = records.at(-1);
    if (last === undefined) throw new Error('no records written');
    expect(last).to.include({ type: 2, id: 'c1', count: 5, at: T0 + 60_000 });
    return { segment, lastFrame: last };
  }

  /** Reopens and checks the history minus the late batch: c1 has 10, c2 has 7, and counting goes on. */
  async function expectHistoryWithoutLateBatch(node: Node): Promise<void> {
    expect(node.report.campaigns).to.equal(2);
    expect(await node.total('c1')).to.equal(10);
    expect(await node.total('c2')).to.equal(7);
    expect(await node.record('c1', users(10, 'early-')), 'restored users are still duplicates').to.deep.equal(Array(10).fill('duplicate'));
    expect(await node.record('c1', users(5, 'late-')), 'the cut batch was never acknowledged as durable').to.deep.equal(Array(5).fill('counted'));
    expect(await node.total('c1')).to.equal(15);
    expect(node.errors).to.deep.equal([]);
  }

  it('starts empty on a directory that does not exist yet, and opens the first segment', async () => {
    const node = await boot();
    expect(node.report).to.deep.include({ snapshot: undefined, campaigns: 0, records: 0, torn: [] });
    expect(await listDir(data.dir)).to.deep.equal([segmentName(1)]);
  });

  it('restores campaigns, totals, trailing windows and dedupe windows from the journal alone', async () => {
    await history();
    const clock = new ManualClock(T0 + 30 * 60_000);
    const node = await boot(clock);
    expect(node.report).to.deep.include({ snapshot: undefined, campaigns: 2, torn: [] });
    expect(node.report.records).to.equal(5);
    expect(await node.counter.campaigns.stats('c1')).to.deep.equal({ lastHour: 15, lastDay: 15, total: 15 });
    expect(await node.counter.campaigns.stats('c2')).to.deep.equal({ lastHour: 7, lastDay: 7, total: 7 });
    expect(await node.record('c1', [...users(10, 'early-'), ...users(5, 'late-')])).to.deep.equal(Array(15).fill('duplicate'));
    expect(await node.record('c2', users(8, 'early-'))).to.deep.equal([...Array(7).fill('duplicate'), 'counted']);

    // The TTL runs from the original counting time, not from the restart.
    clock.ms = T0 + HOUR_MS;
    expect(await node.record('c1', ['early-0', 'late-0'])).to.deep.equal(['counted', 'duplicate']);
    clock.ms = T0 + HOUR_MS + 60_000;
    expect(await node.record('c1', ['late-1'])).to.deep.equal(['counted']);
  });

  it('a new segment per start: restarting twice replays every segment once', async () => {
    await history();
    const second = await boot();
    await second.record('c2', ['second-run']);
    await second.crash();
    const third = await boot();
    expect(await segments(data.dir)).to.have.length(3);
    expect(await third.total('c1')).to.equal(15);
    expect(await third.total('c2')).to.equal(8);
  });

  describe('a torn or corrupt tail is skipped and reported, never fatal, never truncated', () => {
    it('skips garbage appended after the last frame', async () => {
      const { segment, lastFrame } = await history();
      await appendFile(join(data.dir, segment), Buffer.from('\x13\x00\x00\x00garbage that is not a frame'));
      const node = await boot();
      expect(node.report.torn.map((t) => t.file)).to.deep.equal([segment]);
      expect((await stat(join(data.dir, segment))).size, 'left as it was').to.equal(lastFrame.end + 31);
      expect(await node.total('c1')).to.equal(15);
      expect(await node.total('c2')).to.equal(7);
      expect(node.log.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes(segment)), 'logged, naming the segment').to.equal(true);
    });

    it('skips a last frame truncated mid-payload, keeping everything before it', async () => {
      const { segment, lastFrame } = await history();
      await truncate(join(data.dir, segment), lastFrame.end - 3);
      const node = await boot();
      expect(node.report.torn.map((t) => t.file)).to.deep.equal([segment]);
      expect((await stat(join(data.dir, segment))).size, 'left as it was').to.equal(lastFrame.end - 3);
      await expectHistoryWithoutLateBatch(node);
    });

    it('skips a last frame truncated inside its header', async () => {
      const { segment, lastFrame } = await history();
      await truncate(join(data.dir, segment), lastFrame.offset + 5);
      const node = await boot();
      expect(node.report.torn.map((t) => t.file)).to.deep.equal([segment]);
      expect((await stat(join(data.dir, segment))).size).to.equal(lastFrame.offset + 5);
      await expectHistoryWithoutLateBatch(node);
    });

    it('skips a last frame whose checksum no longer matches (one flipped byte)', async () => {
      const { segment, lastFrame } = await history();
      const path = join(data.dir, segment);
      const bytes = await readFile(path);
      bytes[lastFrame.end - 4] ^= 0x40;
      await writeFile(path, bytes);
      const node = await boot();
      expect(node.report.torn.map((t) => t.file)).to.deep.equal([segment]);
      expect((await stat(path)).size).to.equal(lastFrame.end);
      await expectHistoryWithoutLateBatch(node);
    });

    it('skips a zero-filled tail (a crash after the file grew but before its blocks were written)', async () => {
      const { segment, lastFrame } = await history();
      await appendFile(join(data.dir, segment), Buffer.alloc(4096));
      const node = await boot();
      expect(node.report.torn.map((t) => t.file)).to.deep.equal([segment]);
      expect((await stat(join(data.dir, segment))).size).to.equal(lastFrame.end + 4096);
      expect(await node.total('c1')).to.equal(15);
    });

    it('after a torn tail, what was written in the next run survives the run after it', async () => {
      const { segment, lastFrame } = await history();
      await truncate(join(data.dir, segment), lastFrame.end - 1);
      const second = await boot();
      expect(second.report.torn.map((t) => t.file)).to.deep.equal([segment]);
      await second.record('c1', users(5, 'late-'));
      await second.record('c2', ['after-cut']);
      await second.crash();
      const third = await boot();
      expect(third.report.torn.map((t) => t.file), 'the old tail is still there, still harmless').to.deep.equal([segment]);
      expect(third.report.missing).to.equal(0);
      expect(await third.total('c1')).to.equal(15);
      expect(await third.total('c2')).to.equal(8);
    });
  });

  it('ignores a snapshot left half-written by a crash (.tmp) and recovers from the journal', async () => {
    const { segment } = await history();
    await writeFile(join(data.dir, `${snapshotName(99)}.tmp`), Buffer.from('half a snapshot'));
    const node = await boot();
    expect(node.report).to.deep.include({ snapshot: undefined, torn: [] });
    expect(await node.total('c1')).to.equal(15);
    await node.shutdown();
    expect(await listDir(data.dir), 'the next snapshot clears the leftovers').to.not.include(`${snapshotName(99)}.tmp`);
    expect(await listDir(data.dir)).to.not.include(segment);
  });

  it('falls back to an older snapshot when the newest is unreadable, logging why', async () => {
    const first = await counted(boot(), 4);
    await first.shutdown();
    const [good] = await snapshots(data.dir);
    await writeFile(join(data.dir, snapshotName(1_000_000)), Buffer.from('not a snapshot at all'));
    const node = await boot();
    expect(node.report.snapshot).to.equal(good);
    expect(await node.total('c1')).to.equal(4);
    expect(node.log.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes(snapshotName(1_000_000)))).to.equal(true);
  });

  it('creates DATA_DIR (and parents) when missing', async () => {
    data.dir = join(data.dir, 'nested', 'deeper');
    const node = await boot();
    expect(await listDir(data.dir)).to.deep.equal([segmentName(1)]);
    await node.createCampaign('c1');
    expect(node.errors).to.deep.equal([]);
  });
});
