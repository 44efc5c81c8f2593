import { expect } from 'chai';
import fc from 'fast-check';
import { hash128 } from '../../../actors/counting/hash128.js';
import { estimate, Hll } from '../../../actors/counting/hll.js';

function digests(count: number, prefix: string): Uint32Array[] {
  return Array.from({ length: count }, (_, i) => {
    const d = new Uint32Array(4);
    hash128(`${prefix}${i}`, d);
    return d;
  });
}

describe('HyperLogLog (actors/counting/hll.ts)', () => {
  it('estimates 100,000 distinct users within the stated bound: 3 standard errors (±4.9 % at p = 12, ±9.75 % at p = 10)', () => {
    for (const [p, bound] of [
      [12, 0.049],
      [10, 0.0975],
    ]) {
      const errors: number[] = [];
      for (let set = 0; set < 5; set++) {
        const h = new Hll(p);
        for (const d of digests(100_000, `set${set}-user-`)) h.add(d);
        errors.push((h.estimate() - 100_000) / 100_000);
      }
      for (const e of errors) expect(Math.abs(e), `p=${p} errors ${errors.map((x) => (x * 100).toFixed(2) + '%').join(' ')}`).to.be.below(bound);
      // The mean of five independent sets stays near zero: the estimator is unbiased.
      expect(Math.abs(errors.reduce((a, b) => a + b) / errors.length)).to.be.below(bound / 2);
    }
  });

  it('counts small sets exactly and ignores repeats', () => {
    const h = new Hll(12);
    const users = digests(50, 'u');
    for (let round = 0; round < 3; round++) for (const d of users) h.add(d);
    expect(h.estimate()).to.equal(50);
    expect(new Hll(12).estimate()).to.equal(0);
  });

  it('stays sparse (small) for few users and turns dense at 2^p bytes', () => {
    const h = new Hll(12);
    for (const d of digests(10, 'a')) h.add(d);
    expect(h.bytes).to.be.at.most(64);
    for (const d of digests(5_000, 'b')) h.add(d);
    expect(h.bytes).to.equal(4096);
  });

  it('unions sketches register-wise: a user in two buckets counts once', () => {
    const a = new Hll(12);
    const b = new Hll(12);
    const shared = digests(20_000, 'shared-');
    for (const d of shared) a.add(d);
    for (const d of shared) b.add(d);
    for (const d of digests(10_000, 'only-b-')) b.add(d);
    const registers = new Uint8Array(4096);
    a.unionInto(registers);
    b.unionInto(registers);
    expect(estimate(registers)).to.be.within(30_000 * 0.95, 30_000 * 1.05);
    expect(a.estimate() + b.estimate(), 'a sum would count the shared users twice').to.be.above(45_000);
  });

  it('captures and restores both forms', () => {
    for (const n of [10, 5_000]) {
      const h = new Hll(12);
      for (const d of digests(n, 'c')) h.add(d);
      expect(Hll.restore(12, h.capture()).estimate()).to.equal(h.estimate());
    }
  });

  it('gives, sparse or dense, exactly the estimate of plain registers holding the highest rank (any users, any p)', () => {
    // The model: 2^p registers, each the highest rank of the digests indexed to it.
    const word = fc.integer({ min: 0, max: 0xffff_ffff });
    fc.assert(
      fc.property(fc.constantFrom(10, 12), fc.array(fc.tuple(word, word, word, word), { maxLength: 3000, size: 'max' }), fc.integer({ min: 0, max: 3000 }), (p, users, split) => {
        const h = new Hll(p);
        const model = new Uint8Array(1 << p);
        const registers = new Uint8Array(1 << p);
        users.forEach((u, i) => {
          const d = Uint32Array.from(u);
          // Some registers arrive as registers (what a sparse ad row replays), the rest as digests.
          const index = d[1] >>> (32 - p);
          const rank = d[2] === 0 ? 33 : Math.clz32(d[2]) + 1;
          if (i < split) h.add(d);
          else h.addRegister(index, rank);
          if (model[index] < rank) model[index] = rank;
        });
        h.unionInto(registers);
        expect(registers).to.deep.equal(model);
        expect(h.estimate()).to.equal(estimate(model));
        // Sparse only while smaller than the dense registers, and sparse while clearly smaller.
        expect(h.bytes).to.be.at.most(1 << p);
        if (model.filter((r) => r > 0).length <= (1 << p) / 16) expect(h.bytes, 'few registers set: sparse').to.be.below(1 << p);
      }),
      { numRuns: 150 },
    );
  });
});
