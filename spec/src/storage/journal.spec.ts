import { expect } from 'chai';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sinon from 'sinon';
import { InsufficientStorageError, UnavailableError } from '../../../src/errors.js';
import { FRAME_HEADER, FrameScanner, frame, type ScannerOptions } from '../../../src/storage/frames.js';
import { eventually, FaultyFs } from '../../helpers/faulty-fs.js';
import { nodeFs, type DiskFile } from '../../../src/storage/fs.js';
import { INTERVAL_LOSS_MS, INTERVAL_SYNC_MS, Journal, segmentName, type JournalOptions } from '../../../src/storage/journal.js';
import { removeTempDirs, tempDir, waitFor } from '../../helpers/process.js';
import { Gate, T0, digestOf, fileHandlePrototype, readRecords, segments, stallDatasync } from '../../helpers/storage.js';

const CREATED = 1;
const COUNTED = 2;
const REMEMBERED = 3;

/** The error `admit()` refuses new writes with, or undefined when it takes them. */
/**
 * Waits for the journal to turn unhealthy with `code` and refuse new writes with `refusal`; `durable`
 * is the wait for what it held, `acked()` whether that wait has ended.
 */
async function failing(journal: Journal, code: string, refusal: new (...args: never[]) => Error): Promise<{ durable: Promise<unknown>; acked: () => boolean }> {
  let acked = false;
  const durable = journal.durable().then(() => (acked = true));
  await eventually(() => !journal.health.ok, 'the journal to turn unhealthy');
  expect(journal.health).to.include({ ok: false, code });
  expect(admitError(journal)).to.be.instanceOf(refusal);
  return { durable, acked: () => acked };
}

function admitError(journal: Journal): unknown {
  try {
    journal.admit();
    return undefined;
  } catch (err) {
    return err;
  }
}

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
  let file: DiskFile | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await file?.close();
    file = undefined;
    await removeTempDirs();
  });

  async function scannerOf(bytes: Buffer, options: ScannerOptions = {}): Promise<FrameScanner> {
    const path = join(dir, 'frames.bin');
    await writeFile(path, bytes);
    await file?.close();
    file = await nodeFs.open(path, 'r');
    return new FrameScanner(file, bytes.length, options);
  }

  it('reads back what it framed, then reports the end', async () => {
    const a = frame(Buffer.from('first'));
    const b = frame(Buffer.from('second payload'));
    const scanner = await scannerOf(Buffer.concat([a, b]));
    const r1 = await scanner.next();
    expect(r1).to.include({ kind: 'frame', offset: 0, next: a.length });
    expect((r1 as { payload: Buffer }).payload.toString()).to.equal('first');
    const r2 = await scanner.next();
    expect((r2 as { payload: Buffer }).payload.toString()).to.equal('second payload');
    expect(await scanner.next()).to.deep.equal({ kind: 'end' });
  });

  it('reads frames that straddle its read chunks and frames larger than a chunk', async () => {
    const payloads = [Buffer.alloc(5, 1), Buffer.alloc(40, 2), Buffer.alloc(7, 3), Buffer.alloc(100, 4)];
    const scanner = await scannerOf(Buffer.concat(payloads.map(frame)), { chunkBytes: 16 });
    for (const p of payloads) {
      const r = await scanner.next();
      expect(r.kind).to.equal('frame');
      expect((r as { payload: Buffer }).payload.equals(p)).to.equal(true);
    }
    expect((await scanner.next()).kind).to.equal('end');
  });

  it('calls a tail shorter than a header, a frame running past the end, a zero length and a bad checksum damaged', async () => {
    const good = frame(Buffer.from('payload'));
    expect(await (await scannerOf(good.subarray(0, FRAME_HEADER - 1))).next()).to.deep.equal({ kind: 'damaged', offset: 0, reason: 'truncated frame header' });
    expect(await (await scannerOf(good.subarray(0, good.length - 1))).next()).to.deep.equal({ kind: 'damaged', offset: 0, reason: 'frame runs past the end of the file' });
    const zero = Buffer.from(good);
    zero.writeUInt32LE(0, 0);
    expect(await (await scannerOf(zero)).next()).to.deep.equal({ kind: 'damaged', offset: 0, reason: 'empty frame' });
    const flipped = Buffer.from(good);
    flipped[FRAME_HEADER + 2] ^= 0x01;
    expect(await (await scannerOf(flipped)).next()).to.deep.equal({ kind: 'damaged', offset: 0, reason: 'checksum mismatch' });
  });

  it('resynchronises on the next valid frame after a damaged one, and reaches the end after a damaged tail', async () => {
    const a = frame(Buffer.from('first'));
    const b = frame(Buffer.from('second'));
    const c = frame(Buffer.from('third'));
    const bytes = Buffer.concat([a, b, c]);
    bytes[a.length + FRAME_HEADER + 1] ^= 0x40;
    const scanner = await scannerOf(Buffer.concat([bytes, Buffer.from('garbage')]));
    expect((await scanner.next()).kind).to.equal('frame');
    expect(await scanner.next()).to.deep.include({ kind: 'damaged', offset: a.length });
    expect(await scanner.resync()).to.equal(a.length + b.length);
    const r = await scanner.next();
    expect((r as { payload: Buffer }).payload.toString()).to.equal('third');
    expect((await scanner.next()).kind).to.equal('damaged');
    expect(await scanner.resync()).to.equal(bytes.length + 'garbage'.length);
    expect((await scanner.next()).kind).to.equal('end');
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
    const journal = await Journal.create({ dir, mode: 'fsync', lastSeq: 0, maxPendingBytes: 64 * 1024 * 1024, onHealth: (h) => void (h.ok || errors.push(h.error)), ...options });
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

    it('answers a wait longer than DURABILITY_TIMEOUT with a 503, and refuses new writes while records wait that long', async () => {
      const clock = sinon.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout'] });
      const { gate } = await stallDatasync();
      const journal = await create({ durabilityTimeoutMs: 2000, now: () => clock.now });
      journal.counted('c1', T0, digestOf('u1'));
      let outcome: unknown = 'pending';
      journal.durable().then(
        () => (outcome = 'durable'),
        (e: unknown) => (outcome = e),
      );
      await clock.tickAsync(1999);
      expect(outcome, 'still waiting at the timeout − 1 ms').to.equal('pending');
      expect(() => journal.admit(), 'new writes taken while the oldest waits 1999 ms').to.not.throw();
      await clock.tickAsync(1);
      expect(() => journal.admit(), 'at 2000 ms: not yet past the bound').to.not.throw();
      expect(outcome).to.be.instanceOf(UnavailableError);
      expect((outcome as UnavailableError).status).to.equal(503);
      expect((outcome as UnavailableError).message).to.match(/impression_id/);
      await clock.tickAsync(1);
      expect(() => journal.admit(), 'past the bound: the disk is not keeping up').to.throw(UnavailableError, /not keeping up/);
      gate.release();
      await eventually(async () => (await allRecords()).length === 1, 'the record to be written');
      await eventually(() => admitError(journal) === undefined, 'new writes to be taken again once the disk syncs');
    });
  });

  describe('faults', () => {
    let fs: FaultyFs;
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      fs = new FaultyFs();
      clock = sinon.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    });
    afterEach(() => clock.restore());

    const health = (j: Journal) => j.health;
    async function seqsOnDisk(): Promise<number[]> {
      return (await allRecords()).map((r) => r.seq);
    }

    it('continues after a short write: every byte lands, in order, before anything is acknowledged', async () => {
      fs.inject({ op: 'writev', short: 10, times: 1 });
      const journal = await create({ fs, now: () => clock.now });
      for (let i = 0; i < 50; i++) journal.counted('c1', T0, digestOf(`u${i}`));
      journal.counted('c2', T0, digestOf('v'));
      await journal.durable();
      const records = await allRecords();
      expect(records.map((r) => [r.id, r.count])).to.deep.equal([
        ['c1', 50],
        ['c2', 1],
      ]);
      expect(fs.calls.filter((c) => c.op === 'writev').length, 'the rest was written by a second call').to.be.at.least(2);
      expect(health(journal).ok).to.equal(true);
    });

    it('on a full disk acknowledges nothing, refuses new writes with 507, and once space returns writes the held records to a fresh segment', async () => {
      const journal = await create({ fs, now: () => clock.now, retryMs: 1000, lastSeq: 9, durabilityTimeoutMs: 60_000 });
      journal.counted('c1', T0, digestOf('before'));
      await journal.durable();
      fs.inject({ op: 'writev', short: 7, times: 1 });
      const full = fs.inject({ op: 'writev', error: 'ENOSPC' });
      journal.counted('c1', T0 + 1, digestOf('u1'));
      journal.counted('c2', T0 + 1, digestOf('u2'));
      const { durable, acked } = await failing(journal, 'ENOSPC', InsufficientStorageError);
      expect((admitError(journal) as InsufficientStorageError).status).to.equal(507);
      expect(errors).to.have.length(1);
      await clock.tickAsync(999);
      expect(acked(), 'nothing acknowledged while the disk is full').to.equal(false);
      const writes = fs.calls.filter((c) => c.op === 'writev').length;
      await clock.tickAsync(1);
      await eventually(() => fs.calls.filter((c) => c.op === 'writev').length > writes && !health(journal).ok, 'the retry to fail again while the disk is full');
      expect(errors, 'one report per outage, not per retry').to.have.length(1);
      fs.heal();
      full.times = 0;
      await clock.tickAsync(1000);
      await durable;
      expect(health(journal).ok).to.equal(true);
      expect(admitError(journal)).to.equal(undefined);
      expect(await segments(dir), 'the failed segment cut back to what synced; the held records in a fresh one').to.deep.equal([segmentName(10), segmentName(11)]);
      expect(await seqsOnDisk()).to.deep.equal([10, 11, 12]);
      expect((await readRecords(join(dir, segmentName(10)))).torn, 'no half-written frame left behind').to.equal(undefined);
    });

    it('after a failed fdatasync never trusts that segment again: the held records go to a fresh segment', async () => {
      const journal = await create({ fs, now: () => clock.now, retryMs: 1000 });
      journal.counted('c1', T0, digestOf('synced'));
      await journal.durable();
      fs.inject({ op: 'datasync', error: 'EIO', times: 1 });
      journal.counted('c1', T0 + 1, digestOf('unsynced'));
      const { durable, acked } = await failing(journal, 'EIO', UnavailableError);
      expect(acked()).to.equal(false);
      await clock.tickAsync(1000);
      await durable;
      expect(await segments(dir)).to.deep.equal([segmentName(1), segmentName(2)]);
      expect((await readRecords(join(dir, segmentName(1)))).records.map((r) => r.seq), 'cut back to what had synced').to.deep.equal([1]);
      expect((await readRecords(join(dir, segmentName(2)))).records.map((r) => r.seq)).to.deep.equal([2]);
    });

    it('starts unhealthy and retries when it cannot even open its first segment', async () => {
      fs.inject({ op: 'open', error: 'ENOSPC', times: 1 });
      const journal = await create({ fs, now: () => clock.now, retryMs: 1000 });
      expect(health(journal)).to.include({ ok: false, code: 'ENOSPC' });
      journal.counted('c1', T0, digestOf('u'));
      const durable = journal.durable();
      await clock.tickAsync(1000);
      await durable;
      expect(await seqsOnDisk()).to.deep.equal([1]);
    });
  });

  describe('interval mode', () => {
    it('acknowledges at once without waiting for fdatasync, writes promptly and syncs every INTERVAL_SYNC_MS', async () => {
      const clock = sinon.useFakeTimers({ now: T0, toFake: ['setInterval', 'clearInterval'] });
      try {
        const { stub, gate } = await stallDatasync();
        const journal = await create({ mode: 'interval' });
        journal.counted('c1', T0, digestOf('u1'));
        expect(await settled(journal.durable()), 'acknowledged at once').to.equal(true);
        await waitFor(async () => (await allRecords()).length === 1, 2000, 'the record to be written');
        expect(stub.callCount, 'written, not synced').to.equal(0);
        clock.tick(INTERVAL_SYNC_MS - 1);
        expect(stub.callCount).to.equal(0);
        clock.tick(1);
        await waitFor(() => stub.callCount === 1, 2000, 'the first sync');
        gate.release();
        journal.counted('c1', T0, digestOf('u2'));
        await waitFor(async () => (await allRecords()).length === 2, 2000, 'the second record to be written');
        clock.tick(INTERVAL_SYNC_MS);
        await waitFor(() => stub.callCount === 2, 2000, 'the second sync');
        await journal.close();
      } finally {
        clock.restore();
      }
    });

    it('refuses new writes once an acknowledged record has waited INTERVAL_LOSS_MS for its sync, and not before', async () => {
      const clock = sinon.useFakeTimers({ now: 0, toFake: ['setInterval', 'clearInterval'] });
      try {
        const { gate } = await stallDatasync();
        const journal = await create({ mode: 'interval', now: () => clock.now });
        journal.counted('c1', T0, digestOf('u1'));
        await journal.durable();
        clock.tick(INTERVAL_LOSS_MS);
        expect(() => journal.admit(), 'at the bound').to.not.throw();
        clock.tick(1);
        expect(() => journal.admit(), 'past the bound: acknowledging more could lose more than promised').to.throw(UnavailableError, /not keeping up/);
        gate.release();
        clock.tick(INTERVAL_SYNC_MS);
        await eventually(() => admitError(journal) === undefined, 'writes to be taken once the sync went through');
        await journal.close();
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
      const fs = new FaultyFs();
      const journal = await create({ fs });
      journal.counted('c1', T0, digestOf('before'));
      await journal.durable();
      // A request lands while rotate() closes the old segment, before it opens the next, as one can under load.
      const gate = new Gate();
      fs.inject({ op: 'close', file: new RegExp(segmentName(1)), stall: gate, times: 1 });
      const rotation = journal.rotate();
      await eventually(() => gate.parked === 1, 'rotate() to be closing the old segment');
      journal.counted('c1', T0 + 1, digestOf('during-rotate'));
      const late = journal.durable().then(
        () => 'durable',
        (err: unknown) => err,
      );
      gate.release();
      await rotation;
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
