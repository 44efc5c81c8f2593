import { expect } from 'chai';
import fc from 'fast-check';
import { CampaignAnalytics } from '../../../actors/counting/analytics.js';
import { DEFAULT_ANALYTICS, TallyCode } from '../../../actors/counting/analytics-values.js';
import type { WindowsImage } from '../../../actors/counting/windows.js';
import { fcParams } from '../../helpers/seed.js';

const MINUTE_MS = 60_000;
const HOUR_MINUTES = 60;
const DAY_MINUTES = 1_440;

type Command =
  | { readonly kind: 'add'; readonly late: number; readonly n: number }
  | { readonly kind: 'rolledBack'; readonly late: number }
  | { readonly kind: 'other'; readonly late: number; readonly code: 'duplicate' | 'bot' | 'tallied' }
  | { readonly kind: 'advance'; readonly dt: number }
  | { readonly kind: 'read' }
  | { readonly kind: 'compact' }
  | { readonly kind: 'restore' }
  | { readonly kind: 'ring'; readonly withAnalytics: boolean };

/** How long before the current time an impression is stamped: often 0, often near a window edge. */
const late = fc.oneof(
  fc.constant(0),
  fc.nat(36 * 60 * MINUTE_MS),
  fc.tuple(fc.constantFrom(HOUR_MINUTES - 1, HOUR_MINUTES, DAY_MINUTES - 1, DAY_MINUTES), fc.integer({ min: -MINUTE_MS, max: MINUTE_MS })).map(([m, ms]) => Math.max(0, m * MINUTE_MS + ms)),
);

const command: fc.Arbitrary<Command> = fc.oneof(
  // A counted impression stamped up to a day and a half before now (a late one).
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('add' as const), late, n: fc.integer({ min: 1, max: 3 }) }) },
  // One counted inside a commit that a crash then rolled back.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rolledBack' as const), late }) },
  // Writes to the same minute tier that are not counted impressions (they move its pages on).
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('other' as const), late, code: fc.constantFrom('duplicate' as const, 'bot' as const, 'tallied' as const) }) },
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
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ring' as const), withAnalytics: fc.boolean() }) },
);

interface Event {
  readonly at: number;
  readonly n: number;
}

/**
 * The model: the list of every counted impression, as (time, n). At read time t the hour is the
 * minute containing t and the 59 before it, the day that minute and the 1,439 before it. Time is
 * injected and never goes back (the service reads with its clock and clamps later timestamps to it).
 */
function windowSum(events: readonly Event[], now: number, minutes: number): number {
  const head = Math.floor(now / MINUTE_MS);
  let sum = 0;
  for (const e of events) {
    const m = Math.floor(e.at / MINUTE_MS);
    if (m <= head && m > head - minutes) sum += e.n;
  }
  return sum;
}

/** What an older snapshot held for the same events read at `now`: a ring of the day's minutes and its sums. */
function ringImage(events: readonly Event[], now: number): WindowsImage {
  const head = Math.floor(now / MINUTE_MS);
  const ring = new Uint32Array(DAY_MINUTES);
  for (const e of events) {
    const m = Math.floor(e.at / MINUTE_MS);
    if (m <= head && m > head - DAY_MINUTES) ring[m % DAY_MINUTES] += e.n;
  }
  return { ring, head, hourSum: windowSum(events, now, HOUR_MINUTES), daySum: windowSum(events, now, DAY_MINUTES) };
}

describe('last hour and last day from the analytics minute tier against a list of events (property)', () => {
  it('read the same as a brute-force sum over every event, under late adds, rollbacks, other writes, jumps, compaction, snapshots and older rings', () => {
    fc.assert(
      // The default keeps minutes for 48 hours; the shortest retention keeps 25 hours of them, so
      // the tier recycles a page soon after it leaves the day.
      fc.property(fc.nat(2 ** 41), fc.constantFrom(DEFAULT_ANALYTICS, { ...DEFAULT_ANALYTICS, minuteRetentionMs: 0 }), fc.array(command, { maxLength: 200 }), (start, options, cmds) => {
        let a = new CampaignAnalytics(options);
        const events: Event[] = [];
        let now = start;
        const check = (label: string): void => {
          expect(a.lastHour(now), `${label}: last hour at ${now}`).to.equal(windowSum(events, now, HOUR_MINUTES));
          expect(a.lastDay(now), `${label}: last day at ${now}`).to.equal(windowSum(events, now, DAY_MINUTES));
        };
        cmds.forEach((c, step) => {
          switch (c.kind) {
            case 'add': {
              const at = Math.max(0, now - c.late);
              for (let i = 0; i < c.n; i++) a.countedAt(at);
              events.push({ at, n: c.n });
              break;
            }
            case 'rolledBack': {
              const at = Math.max(0, now - c.late);
              a.countedAt(at);
              a.uncount(at);
              break;
            }
            case 'other': {
              const at = Math.max(0, now - c.late);
              if (c.code === 'tallied') a.tallied('ad-1', at, TallyCode.counted, undefined);
              else a.impression('ad-1', at, TallyCode[c.code], undefined);
              break;
            }
            case 'advance':
              now += c.dt;
              break;
            case 'read':
              check(`step ${step}`);
              break;
            case 'compact':
              a.compact(now, Infinity);
              break;
            case 'restore': {
              const windows = a.captureWindows();
              a = CampaignAnalytics.restore(a.capture(), options);
              a.restoreWindows(windows);
              break;
            }
            case 'ring': {
              // An older snapshot: the ring is the truth, with or without an analytics part beside it
              // (which may disagree with it: here it holds one more counted impression).
              const ring = ringImage(events, now);
              if (c.withAnalytics) a.countedAt(now);
              a = c.withAnalytics ? CampaignAnalytics.restore(a.capture(), options) : new CampaignAnalytics(options);
              a.restoreWindows(ring);
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
