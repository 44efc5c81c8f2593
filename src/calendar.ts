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

  /** The first instant of the local day containing `at`. */
  startOfDay(at: number): number {
    const l = this.local(at);
    return this.dayStart(l.year, l.month, l.day);
  }

  /** The first instant of the local day after the one starting at `start`. */
  nextDay(start: number): number {
    // Noon of the day is well inside it whatever the DST change.
    const l = this.local(start + 12 * HOUR_MS);
    const next = new Date(Date.UTC(l.year, l.month - 1, l.day + 1));
    return this.dayStart(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
  }

  /** The start of the local hour containing `at` (local minute 0). */
  startOfHour(at: number): number {
    const l = this.local(at);
    return at - (((at % 1000) + 1000) % 1000) - (l.minute * 60 + l.second) * 1000;
  }

  /** The start of the local hour after the one starting at `start`. */
  nextHour(start: number): number {
    const next = this.startOfHour(start + HOUR_MS);
    // A 30-minute DST change (Lord Howe) can fold the next local hour onto this one.
    return next > start ? next : start + HOUR_MS;
  }

  /** Local midnight of year-month-day, or the first instant of that date when midnight is skipped. */
  private dayStart(year: number, month: number, day: number): number {
    const wall = Date.UTC(year, month - 1, day);
    let t = wall - this.offset(wall);
    t = wall - this.offset(t);
    const l = this.local(t);
    if (l.year === year && l.month === month && l.day === day && l.hour === 0 && l.minute === 0) return t;
    // Midnight does not exist (or offsets disagree around it): find the first instant of the date.
    const key = (x: { year: number; month: number; day: number }): number => x.year * 10_000 + x.month * 100 + x.day;
    const target = year * 10_000 + month * 100 + day;
    let lo = t - 3 * HOUR_MS;
    let hi = t + 3 * HOUR_MS;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      if (key(this.local(mid)) >= target) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** RFC 3339 with the zone's offset at `at` (`Z` for UTC). */
  format(at: number): string {
    const offset = this.offset(at);
    const l = new Date(at + offset);
    const base = l.toISOString().slice(0, 19);
    if (this.name === 'UTC' || this.name === 'Etc/UTC') return `${base}Z`;
    const sign = offset < 0 ? '-' : '+';
    const minutes = Math.round(Math.abs(offset) / 60_000);
    return `${base}${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
  }
}

const HOUR_MS = 3_600_000;

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
