/**
 * Local calendar boundaries in an IANA time zone, from Intl.DateTimeFormat alone: where local days and
 * hours start, across DST changes (a local day is 23, 24 or 25 hours long; where a change skips
 * midnight the day starts at the first instant that exists).
 */
export class Zone {
  private readonly parts: Intl.DateTimeFormat;

  private constructor(readonly name: string) {
    this.parts = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** The zone named `name`, or undefined when Intl does not know it. */
  static of(name: string): Zone | undefined {
    try {
      return new Zone(name);
    } catch {
      return undefined;
    }
  }

  /** Local wall-clock fields at instant `at`. */
  local(at: number): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
    const f = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
    for (const p of this.parts.formatToParts(at)) if (p.type in f) f[p.type as keyof typeof f] = Number(p.value);
    return f;
  }

  /** Local time minus UTC at `at`, in ms. */
  offset(at: number): number {
    const l = this.local(at);
    const wall = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
    return wall - (at - (((at % 1000) + 1000) % 1000));
  }

  /**
   * The first instant of the local day containing `at`. A local day runs from the first instant the
   * calendar shows its date to the first instant it shows a later one: a skipped date (Pacific/Apia,
   * 2011-12-30) has no day, a date the clock repeats (Apia, 1892-07-04) is one 48-hour day, and an
   * hour the clock sets back across midnight stays in the day that had already begun.
   */
  startOfDay(at: number): number {
    const l = this.local(at);
    const next = this.firstInstantFrom(l.year, l.month, l.day + 1);
    return next <= at ? next : this.firstInstantFrom(l.year, l.month, l.day);
  }

  /** The first instant of the local day after the one starting at `start`. */
  nextDay(start: number): number {
    const l = this.local(start);
    const next = this.firstInstantFrom(l.year, l.month, l.day + 1);
    // `start` lies in an hour set back to the previous date: the day after it is one more date on.
    return next > start ? next : this.firstInstantFrom(l.year, l.month, l.day + 2);
  }

  /**
   * The start of the local hour containing `at`: where the clock last read hh:00:00 (an hour the
   * clock sets back is counted twice), or where an offset change moved it into another hour past
   * minute 0 (Lord Howe's 30-minute change, an old offset in seconds). A change that folds the clock
   * back within one hour starts nothing. Assumes at most one offset change in an hour.
   */
  startOfHour(at: number): number {
    const whole = at - (((at % 1000) + 1000) % 1000);
    const l = this.local(whole);
    const candidate = whole - (l.minute * 60 + l.second) * 1000;
    const offset = this.offset(whole);
    if (candidate === whole || this.offset(candidate) === offset) return candidate;
    const change = this.changeAfter(candidate, whole);
    return this.startsHour(change) ? change : this.startOfHour(change - 1000);
  }

  /** The start of the local hour after the one starting at `start`. */
  nextHour(start: number): number {
    const whole = start - (((start % 1000) + 1000) % 1000);
    const l = this.local(whole);
    const candidate = whole + ((60 - l.minute) * 60 - l.second) * 1000;
    if (this.offset(candidate) === this.offset(whole)) return candidate;
    const change = this.changeAfter(whole, candidate);
    return this.startsHour(change) ? change : this.nextHour(change);
  }

  /** The instant in (lo, hi] at which the offset changes (one change between them, whole seconds). */
  private changeAfter(lo: number, hi: number): number {
    const before = this.offset(lo);
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      if (this.offset(mid) === before) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  /** Whether the clock starts an hour at `t`: it reads hh:00:00, or a different hour than a second before. */
  private startsHour(t: number): boolean {
    const l = this.local(t);
    return (l.minute === 0 && l.second === 0) || hourKey(l) !== hourKey(this.local(t - 1000));
  }

  /**
   * The first instant at which the local calendar shows year-month-day or a later date: that date's
   * midnight (the earliest one, if the clock passes it twice), else the instant a change jumps past
   * it (midnight skipped by a DST change, or the whole date skipped). `day` may overflow the month.
   */
  private firstInstantFrom(year: number, month: number, day: number): number {
    const wall = Date.UTC(year, month - 1, day);
    const date = new Date(wall);
    const target = dateKey(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate());
    // Midnight under each offset in force within a day of it (offsets stay within ±16 h).
    let first = Infinity;
    for (const probe of PROBES_MS) {
      const t = wall - this.offset(wall + probe);
      if (t >= first) continue;
      const l = this.local(t);
      if (dateKey(l.year, l.month, l.day) === target && l.hour === 0 && l.minute === 0 && l.second === 0) first = t;
    }
    if (first !== Infinity) return first;
    // No midnight: the first second whose date is the target or later (whole seconds: offsets are).
    let lo = wall - 40 * HOUR_MS;
    let hi = wall + 40 * HOUR_MS;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      const l = this.local(mid);
      if (dateKey(l.year, l.month, l.day) >= target) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** RFC 3339 with milliseconds, like every other time the API answers, and the zone's offset at `at` (`Z` for UTC). */
  format(at: number): string {
    const offset = this.offset(at);
    const l = new Date(at + offset);
    const base = l.toISOString().slice(0, 23);
    if (this.name === 'UTC' || this.name === 'Etc/UTC') return `${base}Z`;
    const sign = offset < 0 ? '-' : '+';
    const minutes = Math.round(Math.abs(offset) / 60_000);
    return `${base}${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
  }
}

const HOUR_MS = 3_600_000;
/** Where offsets are sampled around a local midnight: two changes in 18 hours are not expected. */
const PROBES_MS = [-18 * HOUR_MS, -9 * HOUR_MS, 0, 9 * HOUR_MS, 18 * HOUR_MS];

function hourKey(l: { year: number; month: number; day: number; hour: number }): number {
  return dateKey(l.year, l.month, l.day) * 100 + l.hour;
}

function dateKey(year: number, month: number, day: number): number {
  return year * 10_000 + month * 100 + day;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
