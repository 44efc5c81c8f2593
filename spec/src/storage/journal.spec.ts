import { expect } from 'chai';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sinon from 'sinon';
import type { FileHandle } from 'node:fs/promises';
import { FRAME_HEADER, frame, readFrame } from '../../../src/storage/frames.js';
import { Journal, segmentName, type JournalOptions } from '../../../src/storage/journal.js';
import { removeTempDirs, tempDir, waitFor } from '../../helpers/process.js';
import { T0, digestOf, fileHandlePrototype, readRecords, segments, stallDatasync } from '../../helpers/storage.js';

const CREATED = 1;
const COUNTED = 2;
const REMEMBERED = 3;

/** Whether `promise` has settled after the writer had every chance to run (a few event-loop turns). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('storage/frames', () => {
  let dir: string;
  let file: FileHandle | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await file?.close();
    file = undefined;
    await removeTempDirs();
  });

  async function fileOf(bytes: Buffer): Promise<{ file: FileHandle; size: number }> {
    const path = join(dir, 'frames.bin');
    await writeFile(path, bytes);
    file = await open(path, 'r');
    return { file, size: bytes.length };
  }

  it('reads back what it framed, then reports the end', async () => {
    const a = frame(Buffer.from('first'));
    const b = frame(Buffer.from('second payload'));
    const { file, size } = await fileOf(Buffer.concat([a, b]));
    const r1 = await readFrame(file, 0, size);
    expect(r1).to.include({ kind: 'frame', next: a.length });
    expect((r1 as { payload: Buffer }).payload.toString()).to.equal('first');
    const r2 = await readFrame(file, a.length, size);
    expect((r2 as { payload: Buffer }).payload.toString()).to.equal('second payload');
    expect(await readFrame(file, a.length + b.length, size)).to.deep.equal({ kind: 'end' });
  });

  it('calls a tail shorter than a header, a frame running past the end, and a bad checksum torn', async () => {
    const good = frame(Buffer.from('payload'));
    const short = await fileOf(good.subarray(0, FRAME_HEADER - 1));
    expect(await readFrame(short.file, 0, short.size)).to.deep.equal({ kind: 'torn', reason: 'truncated frame header' });
    await short.file.close();

    const cut = await fileOf(good.subarray(0, good.length - 1));
    expect(await readFrame(cut.file, 0, cut.size)).to.deep.equal({ kind: 'torn', reason: 'frame runs past the end of the file' });
    await cut.file.close();

    const flipped = Buffer.from(good);
    flipped[FRAME_HEADER + 2] ^= 0x01;
    const bad = await fileOf(flipped);
    expect(await readFrame(bad.file, 0, bad.size)).to.deep.equal({ kind: 'torn', reason: 'checksum mismatch' });
  });
});

describe('storage/Journal', () => {
  let dir: string;
  let errors: unknown[];
  let journals: Journal[];

  beforeEach(async () => {
    dir = await tempDir();
    errors = [];
    journals = [];
  });
  afterEach(async () => {
    sinon.restore();
    for (const j of journals) await j.close().catch(() => undefined);
    await removeTempDirs();
  });

  async function create(options: Partial<JournalOptions> = {}): Promise<Journal> {
    const journal = await Journal.create({ dir, mode: 'fsync', lastSeq: 0, maxPendingBytes: 64 * 1024 * 1024, onError: (e) => errors.push(e), ...options });
    journals.push(journal);
    return journal;
  }

  async function allRecords() {
    const out = [];
    for (const name of await segments(dir)) out.push(...(await readRecords(join(dir, name))).records);
    return out;
  }

  it('opens a fresh segment named after the first sequence number it will write', async () => {
    const journal = await create({ lastSeq: 41 });
    journal.counted('c1', T0, digestOf('u1'));
    await journal.durable();
    expect(await segments(dir)).to.deep.equal([segmentName(42)]);
    const { records } = await readRecords(join(dir, segmentName(42)));
    expect(records.map((r) => r.seq)).to.deep.equal([42]);
  });

  it('coalesces consecutive facts of one kind, campaign and instant into one checksummed record', async () => {
    const journal = await create();
    journal.created({ id: 'c1', name: 'spring', startTime: 0, createdAt: T0 });
    for (let i = 0; i < 5; i++) journal.counted('c1', T0, digestOf(`u${i}`));
    journal.counted('c1', T0 + 1, digestOf('u5'));
    journal.counted('c2', T0 + 1, digestOf('u5'));
    journal.remembered('c2', T0 + 1, digestOf('imp-1'), true);
    await journal.durable();

    const records = await allRecords();
    expect(records.map(({ type, seq, at, id, count }) => ({ type, seq, at, id, count }))).to.deep.equal([
      { type: CREATED, seq: 1, at: T0, id: 'c1', count: Buffer.byteLength(JSON.stringify({ id: 'c1', name: 'spring', startTime: 0, createdAt: T0 })) },
      { type: COUNTED, seq: 2, at: T0, id: 'c1', count: 5 },
      { type: COUNTED, seq: 3, at: T0 + 1, id: 'c1', count: 1 },
      { type: COUNTED, seq: 4, at: T0 + 1, id: 'c2', count: 1 },
      { type: REMEMBERED, seq: 5, at: T0 + 1, id: 'c2', count: 1 },
    ]);
  });

  it('barrier() closes the open record and returns the last sequence number', async () => {
    const journal = await create({ lastSeq: 9 });
    expect(journal.barrier()).to.equal(9);
    journal.counted('c1', T0, digestOf('u1'));
    expect(journal.barrier()).to.equal(10);
    journal.counted('c1', T0, digestOf('u2'));
    expect(journal.barrier(), 'a fact after a barrier starts a new record').to.equal(11);
    await journal.durable();
    expect((await allRecords()).map((r) => r.count)).to.deep.equal([1, 1]);
  });

  describe('fsync mode', () => {
    it('resolves durable() only once the record has been fdatasynced', async () => {
      const { stub, gate } = await stallDatasync();
      // The stalled sync then fails: an acknowledgement that waited for it rejects, one that did not
      // resolves, however late it comes. Both settle, so no number of event-loop turns is assumed.
      const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      stub.callsFake(async () => {
        await gate.wait();
        throw eio;
      });
      const journal = await create();
      journal.counted('c1', T0, digestOf('u1'));
      const acked = journal.durable().then(
        () => 'acknowledged',
        () => 'refused',
      );

      await waitFor(() => stub.callCount > 0, 2000, 'the writer to reach fdatasync');
      expect((await allRecords()).length, 'written before the sync').to.equal(1);
      gate.release();
      expect(await acked, 'acknowledged without a successful fdatasync').to.equal('refused');
      expect(errors).to.deep.equal([eio]);
    });

    it('group-commits: a thousand acknowledgements share a handful of fdatasyncs', async () => {
      const proto = await fileHandlePrototype();
      const syncs = sinon.spy(proto, 'datasync');
      const journal = await create();
      const acks: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) {
        journal.counted('c1', T0 + i, digestOf(`u${i}`));
        acks.push(journal.durable());
      }
      await Promise.all(acks);
      expect(syncs.callCount).to.be.within(1, 3);
      expect((await allRecords()).length).to.equal(1000);
    });

    it('facts arriving while a sync is in flight ride the next one together', async () => {
      const { stub, gate } = await stallDatasync();
      const journal = await create();
      journal.counted('c1', T0, digestOf('first'));
      const first = journal.durable();
      await waitFor(() => stub.callCount === 1, 2000, 'the first fdatasync');
      const later: Promise<void>[] = [];
      for (let i = 0; i < 500; i++) {
        journal.counted('c1', T0 + 1 + i, digestOf(`u${i}`));
        later.push(journal.durable());
      }
      gate.release();
      await Promise.all([first, ...later]);
      expect(stub.callCount).to.equal(2);
    });

    it('reports backlogged past maxPendingBytes while the disk is stalled, and clears once it catches up', async () => {
      const { stub, gate } = await stallDatasync();
      const journal = await create({ maxPendingBytes: 1024 });
      expect(journal.backlogged).to.equal(false);
      for (let i = 0; i < 100; i++) journal.counted('c1', T0, digestOf(`u${i}`));
      expect(journal.backlogged, 'appended but not yet written counts').to.equal(true);
      const acked = journal.durable();
      await waitFor(() => stub.callCount > 0, 2000, 'the writer to reach fdatasync');
      expect(journal.backlogged, 'written but not yet synced still counts').to.equal(true);
      gate.release();
      await acked;
      expect(journal.backlogged).to.equal(false);
    });

    it('rejects durable() and reports once when a write fails; later calls reject at once', async () => {
      const proto = await fileHandlePrototype();
      const journal = await create();
      const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      sinon.stub(proto, 'writev').rejects(eio);
      journal.counted('c1', T0, digestOf('u1'));
      let caught: unknown;
      await journal.durable().catch((e: unknown) => (caught = e));
      expect(caught).to.equal(eio);
      expect(errors).to.deep.equal([eio]);
      journal.counted('c1', T0, digestOf('u2'));
      caught = undefined;
      await journal.durable().catch((e: unknown) => (caught = e));
      expect(caught).to.equal(eio);
      sinon.restore();
    });
  });

  describe('interval mode', () => {
    it('acknowledges at once without waiting for fdatasync, writes promptly and syncs every second', async () => {
      const clock = sinon.useFakeTimers({ now: T0, toFake: ['setInterval', 'clearInterval'] });
      try {
        const { stub, gate } = await stallDatasync();
        const journal = await create({ mode: 'interval' });
        journal.counted('c1', T0, digestOf('u1'));
        expect(await settled(journal.durable()), 'acknowledged at once').to.equal(true);
        await waitFor(async () => (await allRecords()).length === 1, 2000, 'the record to be written');
        expect(stub.callCount, 'no sync before a second has passed').to.equal(0);
        clock.tick(999);
        expect(stub.callCount).to.equal(0);
        clock.tick(1);
        expect(stub.callCount).to.equal(1);
        gate.release();
        clock.tick(1000);
        expect(stub.callCount).to.equal(2);
      } finally {
        clock.restore();
      }
    });
  });

  describe('rotate()', () => {
    it('syncs, starts the next segment and returns its first sequence number', async () => {
      const journal = await create();
      journal.counted('c1', T0, digestOf('u1'));
      journal.counted('c2', T0, digestOf('u1'));
      const next = await journal.rotate();
      expect(next).to.equal(3);
      expect(await segments(dir)).to.deep.equal([segmentName(1), segmentName(3)]);
      journal.counted('c1', T0 + 1, digestOf('u2'));
      await journal.durable();
      const { records } = await readRecords(join(dir, segmentName(3)));
      expect(records.map((r) => r.seq)).to.deep.equal([3]);
      expect((await stat(join(dir, segmentName(1)))).size).to.be.above(0);
    });

    it('keeps every fact that arrives while the old segment is being closed (no write to a closed file)', async () => {
      const proto = await fileHandlePrototype();
      const journal = await create();
      journal.counted('c1', T0, digestOf('before'));
      await journal.durable();
      // A request lands just as rotate()'s final sync of the old segment returns, i.e. while rotate()
      // goes on to close that segment and open the next, as one can under load.
      const realSync = proto.datasync;
      let late: Promise<unknown> | undefined;
      sinon.stub(proto, 'datasync').callsFake(async function (this: FileHandle) {
        await realSync.call(this);
        if (late === undefined) {
          journal.counted('c1', T0 + 1, digestOf('during-rotate'));
          late = journal.durable().then(
            () => 'durable',
            (err: unknown) => err,
          );
        }
      });
      await journal.rotate();
      sinon.restore();
      expect(await late, 'the late fact is acknowledged').to.equal('durable');
      expect(errors, 'journal write errors').to.deep.equal([]);
      const records = await allRecords();
      expect(records.map((r) => r.at)).to.deep.equal([T0, T0 + 1]);
    });

    it('completes while facts keep arriving, and loses none of them', async () => {
      const journal = await create();
      const acks: Promise<void>[] = [];
      let n = 0;
      let pumping = true;
      const pump = (): void => {
        if (!pumping) return;
        journal.counted('c1', T0 + n, digestOf(`u${n}`));
        n++;
        acks.push(journal.durable());
        setImmediate(pump);
      };
      pump();
      const deadline = new Promise<'starved'>((r) => setTimeout(() => r('starved'), 3000));
      const rotation = journal.rotate();
      const outcome = await Promise.race([rotation.then(() => 'rotated' as const), deadline]);
      pumping = false;
      await rotation;
      expect(outcome, 'rotate() must not wait for a quiet moment that never comes').to.equal('rotated');
      expect(errors, 'journal write errors').to.deep.equal([]);
      await Promise.all(acks);
      const records = await allRecords();
      expect(records.length).to.equal(n);
      expect(new Set(records.map((r) => r.seq)).size).to.equal(n);
    });
  });

  it('close() writes and syncs everything appended, even without a durable() call', async () => {
    const journal = await create();
    for (let i = 0; i < 3; i++) journal.counted('c1', T0 + i, digestOf(`u${i}`));
    await journal.close();
    expect((await allRecords()).map((r) => r.count)).to.deep.equal([1, 1, 1]);
    const bytes = await readFile(join(dir, segmentName(1)));
    expect(bytes.length).to.equal((await allRecords()).at(-1)?.end);
  });
});
