import { expect } from 'chai';
import fc from 'fast-check';
import { DedupeTable } from '../../../actors/counting/dedupe.js';
import { hash128 } from '../../../actors/counting/hash128.js';
import { DAY_MS, MINUTE_MS } from '../../helpers/actors.js';
import { fcParams } from '../../helpers/seed.js';

/** Stamps are 32-bit milliseconds: a jump past this crosses the table's rebasing horizon. */
const STAMP_HORIZON_MS = 2 ** 32;
/** Past this many entries the table splits into 256 shards. */
const SPLIT_AT = 16_384;

type Command =
  | { readonly kind: 'admit'; readonly user: number; readonly dt: number }
  | { readonly kind: 'admitThenUndo'; readonly user: number; readonly dt: number }
  | { readonly kind: 'has'; readonly user: number }
  | { readonly kind: 'sweep'; readonly budget: number }
  | { readonly kind: 'jump'; readonly dt: number }
  | { readonly kind: 'burst'; readonly first: number; readonly count: number }
  | { readonly kind: 'capture' }
  | { readonly kind: 'restoreCaptured' }
  | { readonly kind: 'readCaptured' }
  | { readonly kind: 'replay'; readonly user: number; readonly back: number }
  | { readonly kind: 'restoreNow' };

const USERS = 20_000;
const user = (i: number): string => `user-${i}`;

function commands(ttl: number): fc.Arbitrary<Command[]> {
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('admit' as const), user: fc.nat(40), dt: fc.nat(2 * ttl) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('admitThenUndo' as const), user: fc.nat(40), dt: fc.nat(2 * ttl) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('has' as const), user: fc.nat(USERS - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sweep' as const), budget: fc.integer({ min: 1, max: 5_000 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('jump' as const),
        dt: fc.oneof(fc.constantFrom(ttl - 1, ttl, ttl + 1, DAY_MS, STAMP_HORIZON_MS - ttl, STAMP_HORIZON_MS, 2 * STAMP_HORIZON_MS), fc.nat(3 * STAMP_HORIZON_MS)),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), first: fc.nat(USERS - 1), count: fc.oneof(fc.nat(200), fc.integer({ min: SPLIT_AT - 100, max: SPLIT_AT + 200 })) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'capture' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'restoreCaptured' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'readCaptured' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), user: fc.nat(40), back: fc.nat(2 * ttl) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'restoreNow' as const }) },
  );
  return fc.array(command, { maxLength: 120 });
}

/** Replays `cmds` on a real table and on the model; throws at the first answer that differs. */
function run(ttl: number, start: number, cmds: readonly Command[]): void {
  let table = new DedupeTable(ttl);
  let model = new Map<string, number>();
  let now = start;
  let captured: { image: ReturnType<DedupeTable['capture']>; model: Map<string, number>; at: number } | undefined;
  const counts = (id: string): boolean => {
    const last = model.get(id);
    return last === undefined || now - last >= ttl;
  };
  const admit = (id: string, step: number): boolean => {
    const expected = counts(id);
    expect(table.admit(id, now), `step ${step}: admit ${id} at ${now}`).to.equal(expected);
    if (expected) model.set(id, now);
    return expected;
  };
  cmds.forEach((c, step) => {
    switch (c.kind) {
      case 'admit':
        now += c.dt;
        admit(user(c.user), step);
        break;
      case 'admitThenUndo': {
        // A campaign actor that crashes mid-impression undoes the admit it just made.
        now += c.dt;
        const id = user(c.user);
        const before = model.get(id);
        if (admit(id, step)) {
          table.undoLastAdmit();
          expect(table.has(id, now), `step ${step}: ${id} after the undo`).to.equal(before !== undefined && now - before < ttl);
          if (before === undefined) model.delete(id);
          else model.set(id, before);
        }
        break;
      }
      case 'has': {
        const id = user(c.user);
        const last = model.get(id);
        expect(table.has(id, now), `step ${step}: has ${id} at ${now}`).to.equal(last !== undefined && now - last < ttl);
        break;
      }
      case 'sweep': {
        const live = [...model.values()].filter((last) => now - last < ttl).length;
        table.sweep(now, c.budget);
        expect(table.size, `step ${step}: size after a sweep`).to.be.at.least(live).and.at.most(model.size);
        break;
      }
      case 'jump':
        now += c.dt;
        break;
      case 'burst':
        for (let k = 0; k < c.count; k++) admit(user((c.first + k) % USERS), step);
        break;
      case 'capture':
        captured?.image.release();
        captured = { image: table.capture(), model: new Map(model), at: now };
        break;
      case 'restoreCaptured':
        // The image reads as it was when captured, whatever the table did since.
        if (captured === undefined) break;
        table = DedupeTable.restore(captured.image, ttl);
        model = captured.model;
        captured = undefined;
        break;
      case 'readCaptured': {
        // A snapshot writer reads the image while the live table goes on (and is checked after).
        if (captured === undefined) break;
        const then = captured;
        const copy = DedupeTable.restore(then.image, ttl);
        for (const [id, last] of then.model) expect(copy.has(id, then.at), `step ${step}: captured image has ${id}`).to.equal(then.at - last < ttl);
        for (const [id, last] of model) expect(table.has(id, now), `step ${step}: the live table after reading the image has ${id}`).to.equal(now - last < ttl);
        break;
      }
      case 'replay': {
        // Journal replay: a counted fact is recorded whatever the table says; a later one is kept.
        const id = user(c.user);
        const at = Math.max(0, now - c.back);
        const digest = new Uint32Array(4);
        hash128(id, digest);
        table.restoreDigest(digest, at);
        model.set(id, Math.max(model.get(id) ?? -Infinity, at));
        break;
      }
      case 'restoreNow':
        captured?.image.release();
        captured = undefined;
        table = DedupeTable.restore(table.capture(), ttl);
        break;
    }
  });
  for (let i = 0; i < USERS; i++) {
    const last = model.get(user(i));
    expect(table.has(user(i), now), `end: has ${user(i)} at ${now}`).to.equal(last !== undefined && now - last < ttl);
  }
}

/**
 * The model: a Map<user, lastCountedAt>. A user counts when absent or when its last counted
 * impression is at least a TTL old; a duplicate changes nothing. Time only moves forward (every
 * stamp comes from the one clock at the edge), by small steps, TTL boundaries and long jumps.
 * A failure prints fast-check's seed and path: replay with FC_SEED=… FC_PATH=… npx mocha <this file>.
 */
describe('DedupeTable against a Map<user, lastCountedAt> model (property)', () => {
  it('answers every admit and has like the model under random admits, lookups, sweeps, growth, snapshots, undos and clock jumps', function () {
    this.timeout(60_000);
    const ttls = fc.constantFrom(1, 1_000, 10 * MINUTE_MS, DAY_MS);
    fc.assert(
      fc.property(
        ttls.chain((ttl) => fc.tuple(fc.constant(ttl), fc.nat(2 ** 42), commands(ttl))),
        ([ttl, start, cmds]) => run(ttl, start, cmds),
      ),
      {
        ...fcParams(100),
        examples: [
          // Reading a captured image must leave the live table's later writes alone.
          [[1_000, 0, [{ kind: 'admit', user: 0, dt: 0 }, { kind: 'capture' }, { kind: 'admit', user: 0, dt: 1_000 }, { kind: 'readCaptured' }]]],
          // A replayed record whose stamp lands exactly on 2^32 past its shard's epoch (it wrapped to 0, an empty slot).
          [[10 * MINUTE_MS, 0, [{ kind: 'admit', user: 0, dt: 0 }, { kind: 'jump', dt: STAMP_HORIZON_MS - 10 * MINUTE_MS - 1 }, { kind: 'replay', user: 0, back: 0 }]]],
        ],
      },
    );
  });
});

/**
 * The same model keyed by the 96 stored bits (words 0, 1 and 3 of the digest), with digests drawn
 * from tiny pools of words so that keys share home slots, shards and all but one stored word: the
 * probing, robin-hood displacement and matching code see the collisions real ids almost never make.
 */
describe('DedupeTable on colliding digests against a Map<stored bits, lastCountedAt> model (property)', () => {
  it('tells apart digests differing in any stored word, and ignores word 2', () => {
    const word = fc.constantFrom(0, 1, 0x8000_0000, 0xffff_ffff);
    const digest = fc.tuple(word, word, fc.nat(0xffff_ffff), word).map((w) => Uint32Array.from(w));
    const step = fc.record({ digest, dt: fc.nat(20), undo: fc.boolean(), replayBack: fc.option(fc.nat(20)) });
    fc.assert(
      fc.property(fc.constantFrom(5, 10), fc.array(step, { maxLength: 200 }), (ttl, steps) => {
        const table = new DedupeTable(ttl);
        const model = new Map<string, number>();
        const key = (d: Uint32Array): string => `${d[0]}:${d[1]}:${d[3]}`;
        let now = 0;
        steps.forEach((s, i) => {
          now += s.dt;
          const k = key(s.digest);
          const last = model.get(k);
          if (s.replayBack !== null) {
            const at = Math.max(0, now - s.replayBack);
            table.restoreDigest(s.digest, at);
            model.set(k, Math.max(last ?? -Infinity, at));
          } else {
            const expected = last === undefined || now - last >= ttl;
            expect(table.admitDigest(s.digest, now), `step ${i}: admit ${k} at ${now}`).to.equal(expected);
            if (expected && s.undo) table.undoLastAdmit();
            else if (expected) model.set(k, now);
          }
          const after = model.get(k);
          expect(table.hasDigest(s.digest, now), `step ${i}: has ${k} at ${now}`).to.equal(after !== undefined && now - after < ttl);
        });
        for (const [k, last] of model) {
          const [a, b, c] = k.split(':').map(Number);
          expect(table.hasDigest(Uint32Array.from([a, b, 12345, c]), now), `end: has ${k}`).to.equal(now - last < ttl);
        }
      }),
      fcParams(300),
    );
  });
});
