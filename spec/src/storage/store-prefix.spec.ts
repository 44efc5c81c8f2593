import { expect } from 'chai';
import fc from 'fast-check';
import { readdirSync, statSync } from 'node:fs';
import { cp, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../../helpers/process.js';
import { ManualClock, T0, bootNode } from '../../helpers/storage.js';

const POOL = Array.from({ length: 12 }, (_, i) => `u${i}`);

type Op = { kind: 'batch'; users: string[] } | { kind: 'snapshot' };

/**
 * Model: the set of users counted after each acknowledged operation. Property: a crash that leaves
 * any prefix of the newest journal segment recovers exactly the state of the last operation whose
 * bytes all made it, never a partial batch and never less than what was acknowledged before the cut.
 * fast-check prints the seed and path of a failure; set FC_SEED to replay one.
 */
describe('storage/Store recovery from any prefix of the journal (model: a set per acknowledged batch)', () => {
  afterEach(removeTempDirs);

  it('recovers exactly the acknowledged prefix', async function () {
    this.timeout(120_000);
    const ops = fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.record({ kind: fc.constant('batch' as const), users: fc.array(fc.constantFrom(...POOL), { minLength: 1, maxLength: 5 }) }) },
        { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
      ),
      { minLength: 1, maxLength: 8 },
    );
    await fc.assert(
      fc.asyncProperty(ops, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 3 }), async (script: Op[], cuts: number[]) => {
        const dir = join(await tempDir(), 'data');
        const clock = new ManualClock(T0);
        const node = await bootNode(dir, { clock });
        await node.createCampaign('c1');
        // After each acknowledged operation: the newest segment, its size, and the model.
        const acks: { segment: string; size: number; counted: Set<string> }[] = [];
        const counted = new Set<string>();
        // Measured synchronously, in the same turn as the acknowledgement: what the disk held when it was given.
        const ack = () => {
          const segment = readdirSync(dir)
            .filter((n) => /^journal-\d{16}\.log$/.test(n))
            .sort()
            .at(-1) as string;
          acks.push({ segment, size: statSync(join(dir, segment)).size, counted: new Set(counted) });
        };
        ack();
        for (const op of script) {
          clock.ms += 1000;
          if (op.kind === 'snapshot') {
            await node.store.snapshot(node.system.registry);
            ack();
          } else {
            const outcomes = await node.record('c1', op.users);
            const model = op.users.map((u) => (counted.has(u) ? 'duplicate' : (counted.add(u), 'counted')));
            ack();
            expect(outcomes).to.deep.equal(model);
          }
        }
        await node.crash();

        const last = acks[acks.length - 1];
        for (const fraction of cuts) {
          const cut = Math.floor(fraction * last.size);
          // The last acknowledged state whose bytes in the newest segment all lie before the cut.
          const expected = [...acks].reverse().find((a) => a.segment !== last.segment || a.size <= cut);
          const copy = join(await tempDir(), 'copy');
          await cp(dir, copy, { recursive: true });
          await truncate(join(copy, last.segment), cut);
          const recovered = await bootNode(copy, { clock: new ManualClock(clock.ms) });
          try {
            expect(recovered.report.missing, 'a torn tail is no gap').to.equal(0);
            if (expected === undefined) {
              // Cut inside the campaign's own creation: it was never acknowledged.
              expect(recovered.report.campaigns).to.equal(0);
              continue;
            }
            expect(await recovered.total('c1')).to.equal(expected.counted.size);
            const again = await recovered.record('c1', POOL);
            expect(POOL.filter((_, i) => again[i] === 'duplicate')).to.deep.equal(POOL.filter((u) => expected.counted.has(u)));
          } finally {
            await recovered.crash();
          }
        }
      }),
      { numRuns: 40, seed: process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED) },
    );
  });
});
