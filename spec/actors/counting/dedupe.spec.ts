import { expect } from 'chai';
import fc from 'fast-check';
import { DedupeTable } from '../../../actors/counting/dedupe.js';
import { hash128 } from '../../../actors/counting/hash128.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, userIds } from '../../helpers/actors.js';

const TTL = HOUR_MS;
/** Stamps are 32-bit milliseconds: about 49.7 days. */
const STAMP_HORIZON_MS = 2 ** 32;

/** A small deterministic PRNG so that model-based runs reproduce. */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe('DedupeTable', () => {
  describe('admit', () => {
    it('counts the first impression of a user', () => {
      const table = new DedupeTable(TTL);
      expect(table.admit('u1', 5_000)).to.equal(true);
      expect(table.size).to.equal(1);
    });

    it('treats a repeat at TTL − 1 ms as a duplicate and counts it at exactly TTL', () => {
      // Arrange
      const start = 1_700_000_000_000;
      const early = new DedupeTable(TTL);
      const onTime = new DedupeTable(TTL);
      early.admit('u1', start);
      onTime.admit('u1', start);

      // Act
      const atTtlMinus1 = early.admit('u1', start + TTL - 1);
      const atTtl = onTime.admit('u1', start + TTL);

      // Assert
      expect(atTtlMinus1).to.equal(false);
      expect(atTtl).to.equal(true);
    });

    it('never lets duplicates extend the window: it is fixed from the last counted impression', () => {
      const table = new DedupeTable(TTL);
      expect(table.admit('u1', 0)).to.equal(true);
      expect(table.admit('u1', TTL / 2)).to.equal(false);
      expect(table.admit('u1', TTL - 1)).to.equal(false);
      // A sliding window would have moved to TTL − 1 + TTL; the fixed one ends at TTL.
      expect(table.admit('u1', TTL)).to.equal(true);
      expect(table.admit('u1', 2 * TTL - 1)).to.equal(false);
      expect(table.admit('u1', 2 * TTL)).to.equal(true);
    });

    it('restarts the window at the impression that counts after expiry, not at the old boundary', () => {
      const table = new DedupeTable(TTL);
      table.admit('u1', 0);
      expect(table.admit('u1', TTL + 5_000)).to.equal(true);
      expect(table.admit('u1', 2 * TTL + 4_999)).to.equal(false);
      expect(table.admit('u1', 2 * TTL + 5_000)).to.equal(true);
    });

    it('keeps users independent: each has its own window', () => {
      const table = new DedupeTable(TTL);
      expect(table.admit('u1', 0)).to.equal(true);
      expect(table.admit('u2', 10)).to.equal(true);
      expect(table.admit('u1', TTL)).to.equal(true);
      expect(table.admit('u2', TTL)).to.equal(false);
      expect(table.admit('u2', TTL + 9)).to.equal(false);
      expect(table.admit('u2', TTL + 10)).to.equal(true);
    });

    it('tells apart ids that differ only by case, a trailing space or a trailing NUL, and very long ids', () => {
      const table = new DedupeTable(TTL);
      const long = 'x'.repeat(10_000);
      const ids = ['user', 'User', 'user ', 'user\u0000', long, long + 'y', '', '用户'];
      for (const id of ids) expect(table.admit(id, 0), JSON.stringify(id.slice(0, 20))).to.equal(true);
      for (const id of ids) expect(table.admit(id, 1), JSON.stringify(id.slice(0, 20))).to.equal(false);
      expect(table.size).to.equal(ids.length);
    });

    it('counts each of 200,000 distinct users exactly once and every repeat within the TTL as a duplicate', () => {
      // Arrange
      const ids = userIds(200_000);
      const table = new DedupeTable(TTL);

      // Act
      const firstPass = ids.filter((id) => table.admit(id, 1_000)).length;
      const repeats = ids.filter((id) => table.admit(id, 1_000 + TTL - 1)).length;

      // Assert
      expect(firstPass).to.equal(ids.length);
      expect(repeats).to.equal(0);
      expect(table.size).to.equal(ids.length);
      expect(table.admit('never-seen', 1_000 + TTL - 1)).to.equal(true);
    });

    it('counts all 200,000 users again once their TTL has passed, re-using their slots', () => {
      const ids = userIds(200_000);
      const table = new DedupeTable(TTL);
      for (const id of ids) table.admit(id, 0);
      const bytes = table.bytes;

      const again = ids.filter((id) => table.admit(id, TTL)).length;

      expect(again).to.equal(ids.length);
      expect(table.size).to.equal(ids.length);
      expect(table.bytes).to.equal(bytes);
    });

    it('agrees with an exact model over random admits and sweeps, across the 2^32 ms stamp horizon', () => {
      // Arrange
      const ttl = 10 * MINUTE_MS;
      const table = new DedupeTable(ttl);
      const lastCounted = new Map<string, number>();
      const ids = userIds(3_000);
      const random = prng(42);
      let at = 0;
      let mismatches = 0;

      // Act: 20,000 steps from t = 0, then 20,000 straddling the stamp horizon.
      for (let step = 0; step < 40_000; step++) {
        if (step === 20_000) at = STAMP_HORIZON_MS - 20 * ttl;
        at += Math.floor(random() * (ttl / 50));
        if (random() < 0.01) table.sweep(at, Math.floor(random() * 5_000));
        const id = ids[Math.floor(random() * ids.length)];
        const last = lastCounted.get(id);
        const expected = last === undefined || at - last >= ttl;
        if (expected) lastCounted.set(id, at);
        if (table.admit(id, at) !== expected) mismatches++;
      }

      // Assert
      expect(at).to.be.greaterThan(STAMP_HORIZON_MS + ttl);
      expect(mismatches).to.equal(0);
      for (const [id, last] of lastCounted) expect(table.has(id, at), id).to.equal(at - last < ttl);
    });
  });

  describe('has', () => {
    it('reports a live entry up to TTL − 1 ms and none from TTL on, without changing the table', () => {
      const table = new DedupeTable(TTL);
      table.admit('u1', 0);

      expect(table.has('u1', TTL - 1)).to.equal(true);
      expect(table.has('u1', TTL)).to.equal(false);
      expect(table.has('u2', 0)).to.equal(false);
      expect(table.size).to.equal(1);
      expect(table.admit('u1', TTL - 1)).to.equal(false);
    });
  });

  describe('undoLastAdmit', () => {
    it('reverts a first admission so that the same impression counts when retried at the same time', () => {
      const table = new DedupeTable(TTL);
      table.admit('other', 0);
      expect(table.admit('u1', 1_000)).to.equal(true);

      table.undoLastAdmit();

      expect(table.has('u1', 1_000)).to.equal(false);
      expect(table.admit('u1', 1_000)).to.equal(true);
      expect(table.admit('u1', 1_001)).to.equal(false);
      expect(table.has('other', 1_000)).to.equal(true);
    });

    it('reverts a re-count of an expired user to its earlier window', () => {
      const table = new DedupeTable(TTL);
      table.admit('u1', 0);
      expect(table.admit('u1', TTL + 10)).to.equal(true);

      table.undoLastAdmit();

      expect(table.has('u1', TTL - 1)).to.equal(true);
      expect(table.has('u1', TTL + 10)).to.equal(false);
      expect(table.admit('u1', TTL + 10)).to.equal(true);
    });

    it('leaves the undone entry to be reclaimed by the next sweep', () => {
      const table = new DedupeTable(TTL);
      table.admit('u1', 5_000);
      table.undoLastAdmit();

      table.sweep(5_000, Number.POSITIVE_INFINITY);

      expect(table.size).to.equal(0);
      expect(table.bytes).to.equal(0);
    });
  });

  describe('capture and restore', () => {
    it('captures an image that stays as captured while the table goes on', () => {
      // Arrange
      const ids = userIds(20_000);
      const table = new DedupeTable(TTL);
      for (const id of ids) table.admit(id, 0);

      // Act
      const image = table.capture();
      const asCaptured = image.shards.map((s) => [s.index, s.epoch, s.size, [...s.slots]]);
      for (const id of ids) table.admit(id, TTL);
      for (const id of userIds(20_000, 'more-')) table.admit(id, TTL);
      table.sweep(2 * TTL, Number.POSITIVE_INFINITY);

      // Assert
      expect(image.shards.map((s) => [s.index, s.epoch, s.size, [...s.slots]])).to.deep.equal(asCaptured);
      expect(table.size).to.equal(0);
    });

    it('restores, from a written-out image, a table that answers exactly as the original', () => {
      // Arrange
      const ids = userIds(20_000);
      const original = new DedupeTable(TTL);
      for (const id of ids) original.admit(id, 0);
      const image = original.capture();
      const written = { ttlMs: image.ttlMs, shards: image.shards.map((s) => ({ ...s, slots: s.slots.slice() })) };

      // Act
      const restored = DedupeTable.restore(written, TTL);

      // Assert
      expect(restored.size).to.equal(original.size);
      expect(restored.bytes).to.equal(original.bytes);
      expect(ids.filter((id) => restored.admit(id, TTL - 1))).to.have.length(0);
      expect(ids.filter((id) => restored.admit(id, TTL))).to.have.length(ids.length);
      expect(restored.admit('new', TTL)).to.equal(true);
    });
  });

  describe('sweep', () => {
    it('frees nothing before the TTL and everything at the TTL: size and bytes drop to zero', () => {
      // Arrange
      const table = new DedupeTable(TTL);
      for (const id of userIds(50_000)) table.admit(id, 0);
      const bytes = table.bytes;

      // Act + Assert: one side of the boundary...
      table.sweep(TTL - 1, Number.POSITIVE_INFINITY);
      expect(table.size).to.equal(50_000);
      expect(table.bytes).to.equal(bytes);

      // ...and the other: every shard held only expired entries, so every shard is freed.
      table.sweep(TTL, Number.POSITIVE_INFINITY);
      expect(table.size).to.equal(0);
      expect(table.bytes).to.equal(0);
    });

    it('keeps live entries (and their windows) while freeing the expired ones around them', () => {
      // Arrange
      const table = new DedupeTable(TTL);
      const old = userIds(100_000, 'old-');
      const recent = userIds(10_000, 'recent-');
      for (const id of old) table.admit(id, 0);
      for (const id of recent) table.admit(id, TTL / 2);
      const bytesBefore = table.bytes;

      // Act
      table.sweep(TTL, Number.POSITIVE_INFINITY);

      // Assert
      expect(table.size).to.equal(recent.length);
      expect(table.bytes).to.be.lessThan(bytesBefore / 5);
      expect(recent.filter((id) => table.admit(id, TTL / 2 + TTL - 1))).to.have.length(0);
      expect(recent.filter((id) => table.admit(id, TTL / 2 + TTL))).to.have.length(recent.length);
      expect(old.slice(0, 1_000).filter((id) => table.admit(id, TTL / 2 + TTL))).to.have.length(1_000);
    });

    it('reports the slots it scanned: all of them when the budget allows', () => {
      const table = new DedupeTable(TTL);
      for (const id of userIds(20_000)) table.admit(id, 0);
      const image = table.capture();
      const slots = image.shards.reduce((n, s) => n + s.slots.length / 4, 0);
      image.release();

      expect(table.sweep(1, Number.POSITIVE_INFINITY)).to.equal(slots);
    });

    it('stops after about `budget` slots (at most one shard over) and resumes where it left off', () => {
      // Arrange
      const table = new DedupeTable(TTL);
      const users = 100_000;
      for (const id of userIds(users)) table.admit(id, 0);
      const slots = table.bytes / 16;
      const shardSlots = slots / DedupeTable.SHARDS;

      // Act: a quarter of the slots
      const budget = Math.floor(slots / 4);
      const scanned = table.sweep(TTL, budget);

      // Assert
      expect(scanned).to.be.at.least(budget);
      expect(scanned).to.be.lessThan(budget + 2 * shardSlots);
      expect(table.size).to.be.within(users * 0.7, users * 0.8);

      // ...and the next calls carry on with the other shards until the table is empty.
      let calls = 0;
      while (table.size > 0 && calls < DedupeTable.SHARDS) {
        const n = table.sweep(TTL, 1);
        expect(n).to.be.lessThan(2 * shardSlots);
        calls++;
      }
      expect(table.size).to.equal(0);
      expect(table.bytes).to.equal(0);
      expect(calls).to.be.within(150, 200);
    });

    it('scans nothing and returns 0 on an empty table', () => {
      const table = new DedupeTable(TTL);
      expect(table.sweep(0, 1_000)).to.equal(0);
      expect(table.bytes).to.equal(0);
    });
  });

  describe('memory', () => {
    it('holds 1,000,000 live keys in at most 24 bytes each', function () {
      this.timeout(10_000);
      // Arrange
      const table = new DedupeTable(TTL);
      const started = performance.now();

      // Act
      for (let i = 0; i < 1_000_000; i++) table.admit(`user-${i}`, 0);

      // Assert
      expect(table.size).to.equal(1_000_000);
      expect(table.bytes / table.size).to.be.at.most(24);
      expect(performance.now() - started).to.be.lessThan(5_000);
    });

    it('holds at most 24 bytes per live key at every size from 256k to 1M keys, even right after its shards grow', function () {
      this.timeout(10_000);
      // Arrange: ids bucketed by the shard their digest selects (the top byte of the fourth word), so
      // that every shard grows at the same moment: the worst case of the growth policy.
      const rounds = 4_000;
      const byShard: string[][] = Array.from({ length: DedupeTable.SHARDS }, () => []);
      const digest = new Uint32Array(4);
      let full = 0;
      for (let i = 0; full < DedupeTable.SHARDS; i++) {
        const id = `user-${i}`;
        hash128(id, digest);
        const bucket = byShard[digest[3] >>> 24];
        if (bucket.length < rounds && bucket.push(id) === rounds) full++;
      }
      const table = new DedupeTable(TTL);
      let worst = 0;
      let worstSize = 0;

      // Act: one key per shard per round, measuring after every round past 1,000 keys a shard.
      for (let round = 0; round < rounds; round++) {
        for (const bucket of byShard) table.admit(bucket[round], 0);
        if (round >= 1_000 && table.bytes / table.size > worst) {
          worst = table.bytes / table.size;
          worstSize = table.size;
        }
      }

      // Assert
      expect(worst, `${worst.toFixed(2)} B/key at ${worstSize} keys`).to.be.at.most(24);
    });

    it('stays bounded by the keys of the last TTL when new users keep arriving and sweeps run', () => {
      // Arrange
      const table = new DedupeTable(TTL);
      const bytesPerCohort: number[] = [];

      // Act: six cohorts of 50,000 new users, one TTL apart, with a sweep before each.
      for (let k = 0; k < 6; k++) {
        table.sweep(k * TTL, Number.POSITIVE_INFINITY);
        for (const id of userIds(50_000, `cohort-${k}-`)) table.admit(id, k * TTL);
        expect(table.size).to.equal(50_000);
        bytesPerCohort.push(table.bytes);
      }

      // Assert: 300,000 users seen, memory of 50,000.
      expect(Math.max(...bytesPerCohort)).to.be.at.most(bytesPerCohort[0] * 1.25);
    });
  });

  describe('time', () => {
    it('keeps a window that straddles the 32-bit stamp horizon (the epoch rebase) exact', () => {
      // Arrange: every shard's epoch is set near t = 0; then users are counted just before the stamps
      // would overflow, so the probe at TTL − 1 must rebase each shard while its entries are live.
      const ttl = MINUTE_MS;
      const table = new DedupeTable(ttl);
      const ids = userIds(5_000);
      for (const id of ids) table.admit(id, 0);
      const t1 = STAMP_HORIZON_MS - 2 * ttl;
      const countedBefore = ids.filter((id) => table.admit(id, t1)).length;

      // Act
      const duplicatesAfter = ids.filter((id) => !table.admit(id, t1 + ttl - 1)).length;
      const countedAgain = ids.filter((id) => table.admit(id, t1 + ttl)).length;
      const duplicatesPastHorizon = ids.filter((id) => !table.admit(id, t1 + 2 * ttl - 1)).length;

      // Assert
      expect(countedBefore).to.equal(ids.length);
      expect(duplicatesAfter).to.equal(ids.length);
      expect(countedAgain).to.equal(ids.length);
      expect(duplicatesPastHorizon).to.equal(ids.length);
      expect(table.size).to.equal(ids.length);
    });

    it('counts correctly after a time jump of more than 50 days', () => {
      // Arrange
      const table = new DedupeTable(TTL);
      const ids = userIds(10_000);
      for (const id of ids) table.admit(id, 1_000);
      const later = 1_000 + 51 * DAY_MS;

      // Act
      const counted = ids.filter((id) => table.admit(id, later)).length;
      const duplicates = ids.filter((id) => !table.admit(id, later + TTL - 1)).length;
      const countedAgain = ids.filter((id) => table.admit(id, later + TTL)).length;

      // Assert
      expect(counted).to.equal(ids.length);
      expect(duplicates).to.equal(ids.length);
      expect(countedAgain).to.equal(ids.length);
      expect(table.size).to.equal(ids.length);
    });

    it('sweeps and frees correctly after a time jump of more than 50 days', () => {
      const table = new DedupeTable(TTL);
      for (const id of userIds(10_000, 'old-')) table.admit(id, 0);
      const later = 60 * DAY_MS;
      for (const id of userIds(1_000, 'new-')) table.admit(id, later);

      table.sweep(later, Number.POSITIVE_INFINITY);

      expect(table.size).to.equal(1_000);
      expect(table.has('new-7', later + TTL - 1)).to.equal(true);
      expect(table.has('old-7', later)).to.equal(false);
    });

    it('does not throw when time goes backwards: a repeat from the past is not counted twice', () => {
      // Arrange
      const table = new DedupeTable(TTL);
      table.admit('u1', 10 * TTL);

      // Act + Assert
      expect(() => table.admit('u1', 5 * TTL)).not.to.throw();
      expect(table.admit('u1', 5 * TTL)).to.equal(false);
      expect(table.admit('u1', 10 * TTL - 1)).to.equal(false);
      expect(() => table.sweep(0, Number.POSITIVE_INFINITY)).not.to.throw();
      expect(table.has('u1', 11 * TTL - 1)).to.equal(true);
      expect(table.admit('u1', 11 * TTL)).to.equal(true);
    });

    it('counts users first seen with a timestamp far in the past once, without blocking them in the present', () => {
      // Arrange: every shard already holds users of the present (t = 10 TTL).
      const table = new DedupeTable(TTL);
      const present = userIds(5_000, 'present-');
      const late = userIds(1_000, 'late-');
      for (const id of present) table.admit(id, 10 * TTL);

      // Act
      const lateCounted = late.filter((id) => table.admit(id, 0)).length;
      const lateRepeats = late.filter((id) => table.admit(id, 0)).length;
      const lateInPresent = late.filter((id) => table.admit(id, 10 * TTL)).length;

      // Assert: their window closed long before the present.
      expect(lateCounted).to.equal(late.length);
      expect(lateRepeats).to.equal(0);
      expect(lateInPresent).to.equal(late.length);
      expect(present.filter((id) => table.admit(id, 10 * TTL + 1))).to.have.length(0);
    });
  });

  it('keeps bytes in step with its shards through admits, splits, sweeps and restores (what a walk would sum)', () => {
    const walk = (t: DedupeTable): number => {
      const image = t.capture();
      const n = image.shards.reduce((sum, sh) => sum + sh.slots.byteLength + 340, 0);
      image.release();
      return n;
    };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 3 })), { maxLength: 60, size: 'max' }), (steps) => {
        let table = new DedupeTable(TTL);
        let at = 0;
        let next = 0;
        for (const [users, op] of steps) {
          at += TTL / 3;
          if (op === 0) table.sweep(at, 1 << 20);
          else if (op === 1) table = DedupeTable.restore(table.capture(), TTL);
          else for (let i = 0; i < users; i++) table.admit(`u${next++ % 7000}`, at);
          expect(table.bytes).to.equal(walk(table));
        }
      }),
      { numRuns: 40 },
    );
  });
});
