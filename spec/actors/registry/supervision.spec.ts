import { expect } from 'chai';
import fc from 'fast-check';
import { decide, type Failure, type SupervisionLimits } from '../../../actors/registry/supervision.js';

const limits: SupervisionLimits = { maxRestarts: 3, windowMs: 60_000 };
const T = 1_000_000;
const failure = (over: Partial<Failure> = {}): Failure => ({ supervised: true, interrupted: false, at: T, ...over });

describe('registry supervision: decide()', () => {
  it('resumes a campaign that crashed between impressions, and restarts one that crashed while applying', () => {
    expect(decide(failure(), { restarts: [], limits })).to.equal('resume');
    expect(decide(failure({ interrupted: true }), { restarts: [], limits })).to.equal('restart');
  });

  it('escalates a failure that is no supervised campaign’s, whatever its history', () => {
    expect(decide(failure({ supervised: false }), { restarts: [], limits })).to.equal('escalate');
    expect(decide(failure({ supervised: false, interrupted: true }), { restarts: [T, T, T], limits })).to.equal('escalate');
  });

  it('stops a campaign on the crash that makes more than maxRestarts in the window, not on the one before', () => {
    expect(decide(failure(), { restarts: [T - 2, T - 1], limits })).to.equal('resume'); // the 3rd
    expect(decide(failure(), { restarts: [T - 3, T - 2, T - 1], limits })).to.equal('stop'); // the 4th
    expect(decide(failure({ interrupted: true }), { restarts: [T - 3, T - 2, T - 1], limits })).to.equal('stop');
  });

  it('counts a restart windowMs − 1 ms old and not one windowMs old', () => {
    const older = [T - 2, T - 1];
    expect(decide(failure(), { restarts: [T - limits.windowMs + 1, ...older], limits })).to.equal('stop');
    expect(decide(failure(), { restarts: [T - limits.windowMs, ...older], limits })).to.equal('resume');
  });

  it('agrees with a model: stop exactly when the restarts within the window, this one included, exceed the limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 12 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.boolean(),
        (ages, maxRestarts, windowMs, interrupted) => {
          const restarts = ages.map((age) => T - age).sort((x, y) => x - y);
          const recent = ages.filter((age) => age < windowMs).length;
          const expected = recent + 1 > maxRestarts ? 'stop' : interrupted ? 'restart' : 'resume';
          expect(decide(failure({ interrupted }), { restarts, limits: { maxRestarts, windowMs } })).to.equal(expected);
        },
      ),
    );
  });
});
