const MINUTE_MS = 60_000;
const HOUR_MINUTES = 60;
const DAY_MINUTES = 1440;

/** Reads one minute's count from the structure that holds the minutes (0 when it holds none). */
export type MinuteReader = (minute: number) => number;

/**
 * The trailing-window part of a snapshot: the latest minute the sums describe and the sums. Older
 * snapshots also carry a ring of 1,440 per-minute counts (slot `minute % 1440`), from before the
 * minutes were kept in one place only; `ringAt` reads such a ring.
 */
export interface WindowsImage {
  readonly ring: Uint32Array | undefined;
  readonly head: number;
  readonly hourSum: number;
  readonly daySum: number;
}

/**
 * Counts in the trailing hour and day at one-minute granularity, O(1) to read, kept as running sums
 * over minute counts that live elsewhere (the campaign's analytics minute tier), so that a minute is
 * counted in one place only. At read time t the hour window is the minute containing t and the 59
 * before it; the day window is that minute and the 1,439 before it. Moving to a later minute
 * subtracts the minutes that fall out, read from the tier, so the owner must `advance` before the
 * tier writes a later minute or frees a page (then every minute still in the day is there to read);
 * a read never scans more than the minutes elapsed since the last move.
 */
export class TrailingSums {
  constructor(private readonly read: MinuteReader) {}

  /** The latest minute the sums describe. */
  private head = 0;
  private hourSum = 0;
  private daySum = 0;

  /** Adds `n` counted in `minute` (already added to the minute counts); older than the day: nothing. */
  add(minute: number, n: number): void {
    if (minute <= this.head - DAY_MINUTES) return;
    this.daySum += n;
    if (minute > this.head - HOUR_MINUTES) this.hourSum += n;
  }

  lastHour(at: number): number {
    this.advance(Math.floor(at / MINUTE_MS));
    return this.hourSum;
  }

  lastDay(at: number): number {
    this.advance(Math.floor(at / MINUTE_MS));
    return this.daySum;
  }

  /** Moves the sums to `minute` (never back), subtracting the minutes that leave the hour and the day. */
  advance(minute: number): void {
    const read = this.read;
    if (minute <= this.head) return;
    if (minute - this.head >= DAY_MINUTES) {
      this.hourSum = 0;
      this.daySum = 0;
    } else {
      for (let m = this.head + 1; m <= minute; m++) {
        this.hourSum -= read(m - HOUR_MINUTES);
        this.daySum -= read(m - DAY_MINUTES);
      }
    }
    this.head = minute;
  }

  capture(): WindowsImage {
    return { ring: undefined, head: this.head, hourSum: this.hourSum, daySum: this.daySum };
  }

  /** Takes the sums as captured (the minute counts they describe are restored alongside). */
  load(image: WindowsImage): void {
    this.head = image.head;
    this.hourSum = image.hourSum;
    this.daySum = image.daySum;
  }

  /** What an older snapshot's ring held for `minute` (one of the 1,440 up to its head), or 0. */
  static ringAt(image: WindowsImage, minute: number): number {
    const ring = image.ring;
    if (ring === undefined || ring.length !== DAY_MINUTES || minute > image.head || minute <= image.head - DAY_MINUTES) return 0;
    return ring[minute % DAY_MINUTES];
  }
}
