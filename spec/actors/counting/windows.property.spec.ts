import { expect } from 'chai';
import fc from 'fast-check';
import { TrailingWindows } from '../../../actors/counting/windows.js';
import { fcParams } from '../../helpers/seed.js';

const MINUTE_MS = 60_000;
const HOUR_MINUTES = 60;
const DAY_MINUTES = 1_440;

type Command =
  | { readonly kind: 'add'; readonly late: number; readonly n: number }
  | { readonly kind: 'advance'; readonly dt: number }
  | { readonly kind: 'read' }
  | { readonly kind: 'compact' }
  | { readonly kind: 'restore' };

/** How long before the latest time an impression is stamped: often 0, often near a window edge. */
const late = fc.oneof(
  fc.constant(0),
  fc.nat(36 * 60 * MINUTE_MS),
  fc.tuple(fc.constantFrom(HOUR_MINUTES - 1, HOUR_MINUTES, DAY_MINUTES - 1, DAY_MINUTES), fc.integer({ min: -MINUTE_MS, max: MINUTE_MS })).map(([m, ms]) => Math.max(0, m * MINUTE_MS + ms)),
);

const command: fc.Arbitrary<Command> = fc.oneof(
  // An impression stamped up to a day and a half before the latest time seen (a late one).
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('add' as const), late, n: fc.integer({ min: 1, max: 5 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      dt: fc.oneof(fc.nat(3 * MINUTE_MS), fc.constantFrom(MINUTE_MS, 59 * MINUTE_MS, 60 * MINUTE_MS, 1_439 * MINUTE_MS, 1_440 * MINUTE_MS), fc.nat(3 * DAY_MINUTES * MINUTE_MS)),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
);

/**
 * The model: the list of every impression added, as (time, n). At read time t the hour is the
 * minute containing t and the 59 before it, the day that minute and the 1,439 before it; reads
 * happen at the latest time seen (the service reads with the clock, which does not go back).
 */
function windowSum(events: readonly { at: number; n: number }[], now: number, minutes: number): number {
  const head = Math.floor(now / MINUTE_MS);
  let sum = 0;
  for (const e of events) {
    const m = Math.floor(e.at / MINUTE_MS);
    if (m <= head && m > head - minutes) sum += e.n;
  }
  return sum;
}

describe('TrailingWindows against a list of events (property)', () => {
  it('reads the same last hour and last day as a brute-force sum over every event, under late adds, jumps, compaction and snapshots', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 41), fc.array(command, { maxLength: 200 }), (start, cmds) => {
        let w = new TrailingWindows();
        const events: { at: number; n: number }[] = [];
        let now = start;
        const check = (label: string): void => {
          expect(w.lastHour(now), `${label}: last hour at ${now}`).to.equal(windowSum(events, now, HOUR_MINUTES));
          expect(w.lastDay(now), `${label}: last day at ${now}`).to.equal(windowSum(events, now, DAY_MINUTES));
        };
        cmds.forEach((c, step) => {
          switch (c.kind) {
            case 'add': {
              const at = Math.max(0, now - c.late);
              w.add(at, c.n);
              events.push({ at, n: c.n });
              break;
            }
            case 'advance':
              now += c.dt;
              break;
            case 'read':
              check(`step ${step}`);
              break;
            case 'compact':
              w.compact(now);
              if (windowSum(events, now, DAY_MINUTES) === 0) expect(w.bytes, `step ${step}: an empty day holds no ring`).to.equal(0);
              break;
            case 'restore': {
              const image = w.capture();
              w = TrailingWindows.restore(image);
              break;
            }
          }
        });
        check('end');
      }),
      fcParams(300),
    );
  });
});
