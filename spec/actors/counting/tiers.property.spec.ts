import { expect } from 'chai';
import fc from 'fast-check';
import { hash128 } from '../../../actors/counting/hash128.js';
import { Hll } from '../../../actors/counting/hll.js';
import { DAY_MS, DayTier, FULL, Metric, SERIES, SketchTier, SUM_WIDTH, Tier, type TierLayout } from '../../../actors/counting/tiers.js';
import { fcParams } from '../../helpers/seed.js';

const BUCKET_MS = 60_000;
const PLAYBACK = SUM_WIDTH - 1;

type Command =
  | { readonly kind: 'bump'; readonly late: number; readonly metric: number; readonly n: number }
  | { readonly kind: 'playback'; readonly late: number; readonly seconds: number }
  | { readonly kind: 'advance'; readonly dt: number }
  | { readonly kind: 'read'; readonly back: number; readonly span: number }
  | { readonly kind: 'compact' }
  | { readonly kind: 'reload' };

interface Event {
  readonly at: number;
  readonly metric: number;
  readonly n: number;
  readonly seconds: number;
}

function commands(retain: number, counters: number): fc.Arbitrary<Command[]> {
  const span = (retain + 3) * BUCKET_MS;
  const late = fc.oneof(fc.constant(0), fc.nat(span));
  return fc.array(
    fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('bump' as const), late, metric: fc.nat(counters - 1), n: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('playback' as const), late, seconds: fc.nat(600) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), dt: fc.oneof(fc.nat(2 * BUCKET_MS), fc.nat(3 * span)) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), back: fc.nat(retain + 3), span: fc.nat(retain + 3) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
    ),
    { maxLength: 150 },
  );
}

/**
 * The model: the list of every event. Bucket b of a read at bucket `now` holds the sum of the
 * events whose time falls in b when b is among the `retain` buckets ending at `now`, else nothing.
 * Reads happen at the latest time seen (the clock does not go back); events may arrive late.
 */
function modelSum(events: readonly Event[], from: number, to: number, now: number, retain: number, layout: TierLayout): Float64Array {
  const out = new Float64Array(SUM_WIDTH);
  for (const e of events) {
    const b = Math.floor(e.at / BUCKET_MS);
    if (b < from || b > to || b <= now - retain) continue;
    if (e.metric >= 0) out[e.metric] += e.n;
    else if (layout.playbackWord >= 0) {
      out[Metric.playbackCount]++;
      out[PLAYBACK] += e.seconds;
    }
  }
  return out;
}

describe('analytics tiers against a list of events (property)', () => {
  it('Tier: every bucket and every range sum equals a brute-force sum over the events still retained, through late events, page recycling, compaction and reloads', () => {
    const setup = fc.record({
      layout: fc.constantFrom(FULL, SERIES),
      pageBuckets: fc.constantFrom(1, 4, 60),
      retain: fc.constantFrom(1, 5, 61, 120),
    });
    fc.assert(
      fc.property(
        setup.chain((s) => fc.tuple(fc.constant(s), fc.nat(2 ** 41), commands(s.retain, s.layout.counters))),
        ([{ layout, pageBuckets, retain }, start, cmds]) => {
          let tier = new Tier(layout, BUCKET_MS, pageBuckets, retain);
          const events: Event[] = [];
          let now = start;
          const check = (from: number, to: number, label: string): void => {
            const nowBucket = Math.floor(now / BUCKET_MS);
            const expected = modelSum(events, from, to, nowBucket, retain, layout);
            const out = new Float64Array(SUM_WIDTH);
            tier.sum(from, to, nowBucket, out);
            expect([...out], `${label}: sum(${from}..${to}) at bucket ${nowBucket}`).to.deep.equal([...expected]);
            for (let b = from; b <= to; b++) {
              const one = modelSum(events, b, b, nowBucket, retain, layout);
              for (let m = 0; m < layout.counters; m++) expect(tier.get(b, m, nowBucket), `${label}: get(${b}, ${m})`).to.equal(one[m]);
            }
          };
          cmds.forEach((c, step) => {
            switch (c.kind) {
              case 'bump': {
                const at = Math.max(0, now - c.late);
                tier.bump(at, c.metric, c.n);
                events.push({ at, metric: c.metric, n: c.n, seconds: 0 });
                break;
              }
              case 'playback': {
                if (layout.playbackWord < 0) break;
                const at = Math.max(0, now - c.late);
                tier.playback(at, c.seconds);
                events.push({ at, metric: -1, n: 0, seconds: c.seconds });
                break;
              }
              case 'advance':
                now += c.dt;
                break;
              case 'read': {
                const to = Math.floor(now / BUCKET_MS) - c.back;
                check(to - c.span, to, `step ${step}`);
                break;
              }
              case 'compact':
                tier.compact(now);
                break;
              case 'reload': {
                const next = new Tier(layout, BUCKET_MS, pageBuckets, retain);
                next.load(tier.capture());
                tier = next;
                break;
              }
            }
          });
          const nowBucket = Math.floor(now / BUCKET_MS);
          check(nowBucket - retain - 2, nowBucket, 'end');
          // A page is freed once all of its buckets are past the retention.
          tier.compact(now + (retain + pageBuckets) * BUCKET_MS);
          expect(tier.bytes, 'nothing held once every page is past the retention').to.equal(0);
        },
      ),
      fcParams(200),
    );
  });

  it('DayTier: every day equals a brute-force sum over the events of that UTC day still retained, through compaction and reloads', () => {
    const dayCommands = fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.record({ kind: fc.constant('bump' as const), late: fc.nat(10 * DAY_MS), metric: fc.constantFrom(0, 1), n: fc.integer({ min: 1, max: 3 }) }) },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), dt: fc.oneof(fc.nat(DAY_MS), fc.nat(40 * DAY_MS)) }) },
        { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
        { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
      ),
      { maxLength: 100 },
    );
    fc.assert(
      fc.property(fc.constantFrom(1, 3, 30, Infinity), fc.nat(2 ** 41), dayCommands, (retainDays, start, cmds) => {
        let tier = new DayTier(retainDays);
        const events: { day: number; metric: 0 | 1; n: number }[] = [];
        let now = start;
        for (const c of cmds) {
          if (c.kind === 'bump') {
            const at = Math.max(0, now - c.late);
            tier.bump(at, c.metric, c.n);
            events.push({ day: Math.floor(at / DAY_MS), metric: c.metric, n: c.n });
          } else if (c.kind === 'advance') now += c.dt;
          else if (c.kind === 'compact') tier.compact(now);
          else {
            const next = new DayTier(retainDays);
            next.load(tier.capture());
            tier = next;
          }
        }
        const nowDay = Math.floor(now / DAY_MS);
        for (let day = nowDay - 45; day <= nowDay; day++) {
          for (const metric of [0, 1] as const) {
            const expected = day > nowDay - retainDays ? events.filter((e) => e.day === day && e.metric === metric).reduce((a, e) => a + e.n, 0) : 0;
            expect(tier.get(day, metric, nowDay), `day ${day} metric ${metric} at day ${nowDay}`).to.equal(expected);
          }
        }
      }),
      fcParams(200),
    );
  });

  it('SketchTier: a union of buckets has exactly the registers of one sketch fed every user of the retained buckets', () => {
    const P = 8;
    const adds = fc.array(fc.record({ user: fc.nat(3_000), late: fc.nat(8 * BUCKET_MS), dt: fc.nat(BUCKET_MS) }), { maxLength: 300 });
    fc.assert(
      fc.property(fc.constantFrom(1, 3, 6), fc.nat(2 ** 41), adds, fc.nat(8), fc.boolean(), (retain, start, list, span, reload) => {
        let tier = new SketchTier(P, BUCKET_MS, retain);
        const events: { bucket: number; user: number }[] = [];
        const digest = new Uint32Array(4);
        let now = start;
        for (const a of list) {
          now += a.dt;
          const at = Math.max(0, now - a.late);
          hash128(`user-${a.user}`, digest);
          tier.add(at, digest);
          events.push({ bucket: Math.floor(at / BUCKET_MS), user: a.user });
        }
        if (reload) {
          const next = new SketchTier(P, BUCKET_MS, retain);
          next.load(tier.capture());
          tier = next;
        }
        const nowBucket = Math.floor(now / BUCKET_MS);
        const from = nowBucket - span;
        const got = new Uint8Array(1 << P);
        tier.unionInto(from, nowBucket, nowBucket, got);
        const reference = new Hll(P);
        for (const e of events) {
          if (e.bucket < from || e.bucket > nowBucket || e.bucket <= nowBucket - retain) continue;
          hash128(`user-${e.user}`, digest);
          reference.add(digest);
        }
        const expected = new Uint8Array(1 << P);
        reference.unionInto(expected);
        expect([...got]).to.deep.equal([...expected]);
      }),
      fcParams(200),
    );
  });
});
