const MINUTE_MS = 60_000;
const HOUR_MINUTES = 60;
const DAY_MINUTES = 1440;

export interface WindowsImage {
  readonly ring: Uint32Array | undefined;
  readonly head: number;
  readonly hourSum: number;
  readonly daySum: number;
}

/**
 * Counts in the trailing hour and day at one-minute granularity, O(1) to read.
 *
 * A ring of 1,440 per-minute buckets (allocated on first use, 5.6 KB) with running sums for the hour
 * and the day. At read time t the hour window is the minute containing t and the 59 before it; the
 * day window is that minute and the 1,439 before it. Moving to a later minute subtracts the buckets
 * that fall out, so a read never scans more than the minutes elapsed since the last update.
 */
export class TrailingWindows {
  private ring: Uint32Array | undefined;
  /** The latest minute the sums describe. */
  private head = 0;
  private hourSum = 0;
  private daySum = 0;

  add(at: number, n = 1): void {
    const minute = Math.floor(at / MINUTE_MS);
    const ring = this.advance(minute);
    if (minute <= this.head - DAY_MINUTES) return; // older than the day window: only `total` keeps it
    ring[minute % DAY_MINUTES] += n;
    this.daySum += n;
    if (minute > this.head - HOUR_MINUTES) this.hourSum += n;
  }

  lastHour(at: number): number {
    this.advanceTo(at);
    return this.hourSum;
  }

  lastDay(at: number): number {
    this.advanceTo(at);
    return this.daySum;
  }

  /** Frees the ring once the day window is empty, so an idle campaign holds no buckets. */
  compact(at: number): void {
    this.advanceTo(at);
    if (this.daySum === 0) this.ring = undefined;
  }

  /** A copy for a snapshot. */
  capture(): WindowsImage {
    return { ring: this.ring?.slice(), head: this.head, hourSum: this.hourSum, daySum: this.daySum };
  }

  static restore(image: WindowsImage): TrailingWindows {
    const w = new TrailingWindows();
    w.ring = image.ring;
    w.head = image.head;
    w.hourSum = image.hourSum;
    w.daySum = image.daySum;
    return w;
  }

  get bytes(): number {
    return this.ring?.byteLength ?? 0;
  }

  private advanceTo(at: number): void {
    if (this.ring !== undefined) this.advance(Math.floor(at / MINUTE_MS));
  }

  private advance(minute: number): Uint32Array {
    let ring = this.ring;
    if (ring === undefined) {
      ring = this.ring = new Uint32Array(DAY_MINUTES);
      this.head = minute;
      return ring;
    }
    if (minute <= this.head) return ring;
    if (minute - this.head >= DAY_MINUTES) {
      ring.fill(0);
      this.hourSum = 0;
      this.daySum = 0;
    } else {
      for (let m = this.head + 1; m <= minute; m++) {
        this.hourSum -= ring[(m + DAY_MINUTES - HOUR_MINUTES) % DAY_MINUTES];
        const slot = m % DAY_MINUTES;
        this.daySum -= ring[slot];
        ring[slot] = 0;
      }
    }
    this.head = minute;
    return ring;
  }
}
