import { expect } from 'chai';
import fc from 'fast-check';
import { AdRow, PROMOTE_AT } from '../../../actors/counting/ad-row.js';
import { ANALYTICS_WINDOWS, type AnalyticsSpan, type AnalyticsWindow } from '../../../actors/analytics-protocol.js';
import { hash128 } from '../../../actors/counting/hash128.js';
import { KEPT, rangeSpan, spanOf, Stats } from '../../../actors/counting/stats.js';
import { Metric, SUM_WIDTH } from '../../../actors/counting/tiers.js';

const T0 = Date.UTC(2026, 5, 1, 9, 17, 23);
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

function digest(user: number): Uint32Array {
  const d = new Uint32Array(4);
  hash128(`user-${user}`, d);
  return d;
}

/** One step of a row's life: an impression tally, a playback, a counted user, a sweep, a promotion or a read. */
type Step =
  | { kind: 'count'; dt: number; back: number; metric: number }
  | { kind: 'playback'; dt: number; back: number; seconds: number }
  | { kind: 'user'; dt: number; user: number }
  | { kind: 'compact'; dt: number }
  | { kind: 'promote' }
  | { kind: 'read'; ahead: number };

// Time mostly moves in small steps, sometimes by hours or days, and often to just around the edges
// where detail is folded or dropped (a day, 30 days), so those edges are crossed from both sides.
const dt = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5 * MINUTE }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 * HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: DAY - 2 * HOUR, max: DAY + HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: 6 * HOUR - HOUR, max: 6 * HOUR + HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: 29 * DAY, max: 30 * DAY + HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 * DAY }) },
);
// Clicks may carry a timestamp up to an hour in the past (CLICK_MAX_SKEW's default).
const back = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: HOUR }) });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('count' as const), dt, back, metric: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('playback' as const), dt, back, seconds: fc.double({ min: 0, max: 600, noNaN: true }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('user' as const), dt, user: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), dt }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'promote' as const }) },
  // Reads land near the edges that matter (within minutes or hours of the last event) and far beyond.
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      ahead: fc.oneof(fc.integer({ min: 0, max: 10 * MINUTE }), fc.integer({ min: 0, max: 2 * DAY }), fc.integer({ min: 0, max: 31 * DAY })),
    }),
  },
);

/**
 * What a read at `at` may ask besides windows: from/to ranges of minutes and of hours, and the
 * oldest minutes and hours kept (a ranking's snapshot paged late: see src/http/analytics.ts).
 */
function reads(at: number): (AnalyticsWindow | AnalyticsSpan)[] {
  const minute = Math.floor(at / MINUTE);
  const hour = Math.floor(at / HOUR);
  const none = { sketch: 'daily', sketchFrom: 1, sketchTo: 0 } as const;
  const ranges = [rangeSpan(at - 30 * MINUTE - 7_000, at - 3 * MINUTE, at), rangeSpan(at - 23 * HOUR, at - 20 * HOUR + 1, at), rangeSpan(at - 10 * DAY, at - 2 * DAY, at)];
  return [
    ...ANALYTICS_WINDOWS,
    ...ranges.filter((r): r is AnalyticsSpan => r !== undefined),
    { counters: 'minutes', from: minute - KEPT.minutes + 1, to: minute - 1380, ...none },
    { counters: 'hours', from: hour - KEPT.hours + 1, to: hour - 700, ...none },
  ];
}

/**
 * One read of both forms: the same figures, and the same counters without the sketch (what a ranking
 * reads), which are the figures' own.
 */
function expectSameRead(row: AdRow, paged: Stats, at: number, w: AnalyticsWindow | AnalyticsSpan, label: string): void {
  const figures = row.figures(at, w);
  expect(figures, label).to.deep.equal(paged.figures(at, w));
  const sums = Array.from(row.sums(at, spanOf(at, w)));
  expect(sums, `${label}: sums`).to.deep.equal(Array.from(paged.sums(at, spanOf(at, w))));
  expect([sums[Metric.counted], sums[Metric.clicks], sums[Metric.playbackCount], sums[SUM_WIDTH - 1]], `${label}: sums against figures`).to.deep.equal([
    figures.counted,
    figures.clicks,
    figures.playbackCount,
    figures.playbackSeconds,
  ]);
}

/** Runs the same steps on a sparse row and on the paged form, comparing every read. */
function replay(steps: readonly Step[], allowPromote: boolean): { row: AdRow; paged: Stats; now: number } {
  const row = new AdRow('ad-1');
  const paged = new Stats('ad-1');
  let now = T0;
  for (const s of steps) {
    switch (s.kind) {
      case 'count':
        now += s.dt;
        row.count(now - s.back, s.metric);
        paged.count(now - s.back, s.metric);
        break;
      case 'playback':
        now += s.dt;
        row.playback(now - s.back, s.seconds);
        paged.playback(now - s.back, s.seconds);
        break;
      case 'user':
        now += s.dt;
        row.users(now, digest(s.user));
        paged.users(now, digest(s.user));
        break;
      case 'compact':
        now += s.dt;
        row.compact(now);
        paged.compact(now);
        // Right after a sweep, at the edges of the minute and hour windows.
        for (const ahead of [0, MINUTE, HOUR - 1, DAY - MINUTE, DAY]) {
          for (const w of reads(now + ahead)) expectSameRead(row, paged, now + ahead, w, `${JSON.stringify(w)} after a sweep`);
        }
        break;
      case 'promote':
        if (allowPromote) row.promote();
        break;
      case 'read':
        for (const w of reads(now + s.ahead)) expectSameRead(row, paged, now + s.ahead, w, `${JSON.stringify(w)} read ${s.ahead} ms after ${now}`);
        break;
    }
  }
  expect(row.totals).to.deep.equal([...paged.totals]);
  return { row, paged, now };
}

// Reads are at or after the latest event, as the service stamps them; a read stamped before events
// already applied is outside what either form promises.
describe('AdRow (actors/counting/ad-row.ts)', () => {
  it('gives the same figures as the paged form for the same events, in every window, across folding and retention', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300, size: 'max' }), (steps) => {
        replay([...steps, { kind: 'read', ahead: 0 }], false);
      }),
      { numRuns: 150 },
    );
  });

  it('gives the same figures after turning paged part-way (promotion replays every entry)', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200, size: 'max' }), (steps) => {
        replay([...steps, { kind: 'read', ahead: 0 }], true);
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same figures after a snapshot round trip, sparse or paged', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 150, size: 'max' }), fc.boolean(), (steps, promote) => {
        const { row, paged, now } = replay(steps, false);
        if (promote) row.promote();
        const back = AdRow.restore(row.capture());
        expect(back.isDense).to.equal(promote);
        expect(back.totals).to.deep.equal(row.totals);
        for (const at of [now, now + HOUR, now + 20 * DAY]) {
          for (const w of ANALYTICS_WINDOWS) expect(back.figures(at, w)).to.deep.equal(paged.figures(at, w));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('adds playback seconds in bucket order, as the paged form does, when a click arrives back-dated', () => {
    const row = new AdRow('video');
    const paged = new Stats('video');
    // Minutes 0, 2, then a click timestamped in minute 1: 0.7 + 0.2 + 0.1 is not 0.7 + 0.1 + 0.2 in floats.
    for (const [minute, seconds] of [[0, 0.7], [2, 0.1], [1, 0.2]]) {
      row.playback(T0 + minute * MINUTE, seconds);
      paged.playback(T0 + minute * MINUTE, seconds);
    }
    expect(row.figures(T0 + 3 * MINUTE, '1h').playbackSeconds).to.equal(paged.figures(T0 + 3 * MINUTE, '1h').playbackSeconds);
    expect(row.figures(T0 + 3 * MINUTE, '1h').playbackSeconds).to.equal(0.7 + 0.2 + 0.1);
  });

  it('holds ten users of one minute in a few hundred bytes, and stays sparse', () => {
    const row = new AdRow('ad-42');
    for (let u = 0; u < 10; u++) {
      row.count(T0 + u, Metric.counted);
      row.users(T0 + u, digest(u));
    }
    expect(row.isDense).to.equal(false);
    expect(row.entries).to.equal(11); // one count entry, ten registers
    expect(row.bytes).to.be.below(400);
    expect(row.figures(T0, '1h')).to.include({ counted: 10, uniqueUsers: 10 });
  });

  it(`turns paged at ${PROMOTE_AT} entries, not one before`, () => {
    const row = new AdRow('busy');
    // One count entry per minute: PROMOTE_AT − 1 minutes keep it sparse, one more promotes it.
    for (let m = 0; m < PROMOTE_AT - 1; m++) row.count(T0 + m * MINUTE, Metric.counted);
    expect(row.isDense).to.equal(false);
    expect(row.entries).to.equal(PROMOTE_AT - 1);
    row.count(T0 + (PROMOTE_AT - 1) * MINUTE, Metric.counted);
    expect(row.isDense).to.equal(true);
    expect(row.figures(T0 + PROMOTE_AT * MINUTE, '24h').counted).to.equal(PROMOTE_AT);
  });

  it('folds counts older than a day into their hour and registers into their day, and frees a row idle for 30 days', () => {
    const row = new AdRow('ad-7');
    for (let m = 0; m < 120; m++) {
      row.count(T0 + m * MINUTE, Metric.counted);
      row.users(T0 + m * MINUTE, digest(m));
    }
    const before = row.entries;
    row.compact(T0 + 2 * DAY);
    // 120 minute counts become 3 hour counts (09:17–11:16); registers only merge across buckets.
    expect(before - row.entries).to.be.at.least(117);
    expect(row.figures(T0 + 2 * DAY, '7d')).to.include({ counted: 120 });
    row.compact(T0 + 32 * DAY);
    expect(row.entries).to.equal(0);
    expect(row.figures(T0 + 32 * DAY, '30d')).to.include({ counted: 0, uniqueUsers: 0 });
    expect(row.totals[Metric.counted]).to.equal(120);
  });
});
