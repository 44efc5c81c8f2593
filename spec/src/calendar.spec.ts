import { expect } from 'chai';
import fc from 'fast-check';
import { DEFAULT_ANALYTICS_CONFIG } from '../../src/use-cases/analytics.js';
import { Zone } from '../../src/calendar.js';
import { planSeries } from '../../src/series.js';
import { fcParams } from '../helpers/seed.js';

const SECOND_MS = 1_000;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** Everything kept forever: the plan then always reads local buckets, never a UTC day. */
const KEEP_ALL = { ...DEFAULT_ANALYTICS_CONFIG, minuteRetentionMs: Infinity, hourRetentionMs: Infinity, dayRetentionMs: Infinity };

/** Local wall-clock fields from Intl alone, independently of src/calendar.ts. */
function wallClock(zone: string): (at: number) => { date: number; hour: number; minute: number; second: number; wall: number } {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  return (at) => {
    const f: Record<string, number> = {};
    for (const p of format.formatToParts(at)) if (p.type !== 'literal') f[p.type] = Number(p.value);
    return {
      date: f.year * 10_000 + f.month * 100 + f.day,
      hour: f.hour,
      minute: f.minute,
      second: f.second,
      wall: Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second),
    };
  };
}

/**
 * The model: walk [from, to) minute by minute (second by second inside any minute where the
 * offset changes or the local hour turns) and note
 * - a day boundary wherever the local calendar shows a date later than any it showed before: a
 *   skipped date has no day, a repeated date (the clock set back a whole day) is one longer day,
 *   and an hour the clock repeats across midnight stays in the day that had begun;
 * - an hour boundary wherever the local clock reads hh:00:00 (an hour set back is counted
 *   twice), or shows another hour than a second before (a change into an hour past its minute 0).
 */
function walk(zone: string, from: number, to: number): { days: number[]; hours: number[] } {
  const local = wallClock(zone);
  const days: number[] = [];
  const hours: number[] = [];
  let maxDate = local(from - 2 * DAY_MS).date;
  for (let t = from - 2 * DAY_MS + SECOND_MS; t < from; t += 10 * MINUTE_MS) maxDate = Math.max(maxDate, local(t).date);
  const visit = (t: number, l: ReturnType<typeof local>): void => {
    if (l.date > maxDate) {
      maxDate = l.date;
      days.push(t);
    }
    const hour = l.date * 100 + l.hour;
    if ((l.minute === 0 && l.second === 0) || hour !== lastHour) hours.push(t);
    lastHour = hour;
  };
  let prev = local(from);
  let lastHour = prev.date * 100 + prev.hour;
  visit(from, prev);
  for (let m = from; m < to; m += MINUTE_MS) {
    const next = local(m + MINUTE_MS);
    if (next.wall - prev.wall !== MINUTE_MS || next.hour !== prev.hour || next.date !== prev.date) {
      for (let s = m + SECOND_MS; s <= m + MINUTE_MS; s += SECOND_MS) visit(s, local(s));
    } else {
      visit(m + MINUTE_MS, next);
    }
    prev = next;
  }
  return { days: days.filter((t) => t > from && t < to), hours: hours.filter((t) => t > from && t < to) };
}

/** Days and instants where calendars do odd things. */
const SPECIAL: readonly [string, string][] = [
  ['Pacific/Apia', '2011-12-29T00:00:00Z'], // 2011-12-30 skipped
  ['Pacific/Kiritimati', '1994-12-30T00:00:00Z'], // 1994-12-31 skipped
  ['Pacific/Kanton', '1994-12-30T00:00:00Z'],
  ['Pacific/Fakaofo', '2011-12-29T00:00:00Z'],
  ['Pacific/Kwajalein', '1993-08-19T00:00:00Z'],
  ['Pacific/Apia', '1892-07-03T00:00:00Z'], // 1892-07-04 repeated, second offsets
  ['America/Sitka', '1867-10-17T00:00:00Z'],
  ['Asia/Manila', '1844-12-29T00:00:00Z'],
  ['America/Santiago', '2024-04-05T00:00:00Z'], // back from 24:00 to 23:00
  ['America/Havana', '2024-11-02T00:00:00Z'],
  ['America/Sao_Paulo', '2018-11-03T00:00:00Z'], // midnight skipped
  ['Asia/Beirut', '2024-03-30T00:00:00Z'],
  ['Australia/Lord_Howe', '2024-04-06T00:00:00Z'], // 30-minute change
  ['Australia/Lord_Howe', '2024-10-05T00:00:00Z'],
  ['Europe/London', '2024-03-30T00:00:00Z'],
  ['America/New_York', '2024-11-02T00:00:00Z'],
  ['Asia/Kolkata', '2024-01-01T00:00:00Z'],
  ['Asia/Kathmandu', '1986-01-01T00:00:00Z'],
  ['Africa/Monrovia', '1972-01-06T00:00:00Z'],
  ['Antarctica/Troll', '2024-03-30T00:00:00Z'],
  ['UTC', '2024-02-28T00:00:00Z'],
];

const ZONES = Intl.supportedValuesOf('timeZone');

/** A zone and a start: a special case, or any zone near a DST season of any year since 1900. */
const place = fc.oneof(
  fc.tuple(fc.constantFrom(...SPECIAL), fc.integer({ min: -2 * DAY_MS, max: 2 * DAY_MS })).map(([[zone, iso], shift]) => ({ zone, start: Date.parse(iso) + shift })),
  fc
    .tuple(fc.constantFrom(...ZONES), fc.integer({ min: 1900, max: 2040 }), fc.constantFrom(0, 2, 3, 9, 10, 11), fc.integer({ min: 0, max: 30 * DAY_MS }))
    .map(([zone, year, month, offset]) => ({ zone, start: Date.UTC(year, month, 1) + offset })),
);

/** A random zone, and a range [from, to) in it of a minute up to `maxMs`, starting on a whole second. */
function rangeIn(maxMs: number) {
  return fc.tuple(place, fc.integer({ min: MINUTE_MS, max: maxMs })).map(([{ zone: name, start }, length]) => {
    const from = Math.floor(start / SECOND_MS) * SECOND_MS;
    return { name, zone: Zone.of(name) as Zone, from, to: from + length };
  });
}

describe('calendar and series against a brute-force minute walk (property)', () => {
  it('startOfDay and nextDay give exactly the walk\'s day boundaries in random IANA zones and ranges, skipped and repeated days included', function () {
    this.timeout(120_000);
    fc.assert(
      fc.property(rangeIn(4 * DAY_MS), ({ name, zone, from, to }) => {
        const { days } = walk(name, from, to);
        const first = zone.startOfDay(from);
        expect(first, `startOfDay(${new Date(from).toISOString()}) in ${name}`).to.be.at.most(from);
        const got: number[] = [];
        for (let s = zone.nextDay(first); s < to; s = zone.nextDay(s)) {
          got.push(s);
          if (got.length > 10) break;
        }
        expect(got.map((t) => new Date(t).toISOString()), `day starts in ${name}`).to.deep.equal(days.map((t) => new Date(t).toISOString()));
        // The day containing from began at the last boundary before it: no boundary lies in between.
        const before = walk(name, first, from + 1).days;
        expect(before.filter((t) => t > first).map((t) => new Date(t).toISOString()), `boundaries inside [startOfDay(from), from] in ${name}`).to.deep.equal([]);
        for (const t of days) expect(zone.startOfDay(t), `startOfDay of a day's first instant in ${name}`).to.equal(t);
      }),
      fcParams(40),
    );
  });

  it('startOfHour and nextHour give exactly the walk\'s hour boundaries (hh:00:00, or a change into another hour)', function () {
    this.timeout(120_000);
    fc.assert(
      fc.property(rangeIn(DAY_MS), ({ name, zone, from, to }) => {
        const { hours } = walk(name, from, to);
        const first = zone.startOfHour(from);
        expect(first).to.be.at.most(from);
        const got: number[] = [];
        for (let s = zone.nextHour(first); s < to; s = zone.nextHour(s)) {
          got.push(s);
          if (got.length > 30) break;
        }
        expect(got.map((t) => new Date(t).toISOString()), `hour starts in ${name}`).to.deep.equal(hours.map((t) => new Date(t).toISOString()));
      }),
      fcParams(40),
    );
  });

  it('a day series tiles [from, to) with the walk\'s local days: the day containing from, then every day starting before to', function () {
    this.timeout(120_000);
    fc.assert(
      fc.property(rangeIn(4 * DAY_MS), ({ name, zone, from, to }) => {
        const plan = planSeries('day', from, to, zone, to, KEEP_ALL);
        const { days } = walk(name, from, to);
        // Local days whose edges are not on quarter hours (old offsets in seconds) are read from the
        // UTC day of the same date and flagged approximate; `shown` is always the local day's start.
        const shown = plan.shown;
        expect(shown[0], 'the first bucket is the day containing from').to.equal(zone.startOfDay(from));
        expect(shown[0]).to.be.at.most(from);
        expect(shown.slice(1).map((t) => new Date(t).toISOString()), `day buckets in ${name}`).to.deep.equal(days.map((t) => new Date(t).toISOString()));
        for (let i = 0; i + 1 < shown.length; i++) {
          if (!plan.approximate[i]) expect(plan.query.ends[i], 'exact buckets tile the range').to.equal(shown[i + 1]);
        }
      }),
      fcParams(40),
    );
  });
});

describe('calendar: days a zone skips or repeats (examples)', () => {
  const iso = (t: number): string => new Date(t).toISOString();

  it('Pacific/Apia skipped 2011-12-30: the day after the 29th (−10:00) is the 31st (+14:00), and a series of that week has six days', () => {
    const apia = Zone.of('Pacific/Apia') as Zone;
    const dec29 = apia.startOfDay(Date.parse('2011-12-29T12:00:00Z'));
    expect(iso(dec29)).to.equal('2011-12-29T10:00:00.000Z');
    expect(iso(apia.nextDay(dec29))).to.equal('2011-12-30T10:00:00.000Z');
    expect(apia.format(apia.nextDay(dec29))).to.equal('2011-12-31T00:00:00.000+14:00');
    const plan = planSeries('day', Date.parse('2011-12-27T10:00:00Z'), Date.parse('2012-01-02T10:00:00Z'), apia, Date.parse('2012-01-02T10:00:00Z'), KEEP_ALL);
    expect(plan.shown.map((t) => apia.format(t).slice(0, 10))).to.deep.equal(['2011-12-27', '2011-12-28', '2011-12-29', '2011-12-31', '2012-01-01', '2012-01-02']);
  });

  it('Pacific/Kiritimati skipped 1994-12-31: the day after the 30th is 1995-01-01', () => {
    const kiritimati = Zone.of('Pacific/Kiritimati') as Zone;
    const dec30 = kiritimati.startOfDay(Date.parse('1994-12-30T22:00:00Z'));
    expect(kiritimati.format(dec30)).to.equal('1994-12-30T00:00:00.000-10:00');
    expect(kiritimati.format(kiritimati.nextDay(dec30))).to.equal('1995-01-01T00:00:00.000+14:00');
  });

  it('Pacific/Apia repeated 1892-07-04: that date is one 48-hour day', () => {
    const apia = Zone.of('Pacific/Apia') as Zone;
    const july4 = apia.startOfDay(Date.parse('1892-07-04T12:00:00Z'));
    expect(apia.nextDay(july4) - july4).to.equal(2 * DAY_MS);
    expect(apia.startOfDay(Date.parse('1892-07-05T06:00:00Z'))).to.equal(july4);
  });
});
