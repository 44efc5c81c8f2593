import { expect } from 'chai';
import { CampaignAnalytics } from '../../../actors/counting/analytics.js';
import { DEFAULT_ANALYTICS, TallyCode } from '../../../actors/counting/analytics-values.js';
import { TrailingSums } from '../../../actors/counting/windows.js';
import { MINUTE_MS } from '../../helpers/actors.js';

/** A minute of 2023 (epoch minutes), far from zero. */
const M = 28_000_000;
const HOUR_MINUTES = 60;
const DAY_MINUTES = 1_440;
/** A page of 60 minute buckets of 40 bytes. */
const PAGE_BYTES = 60 * 40;
const KEPT_MINUTES = DEFAULT_ANALYTICS.minuteRetentionMs / MINUTE_MS;
const EMPTY_BYTES = new CampaignAnalytics().bytes;

/**
 * `last_hour` and `last_day` as a campaign keeps them: counted minutes in its analytics' minute
 * tier, read through the running sums.
 */
class Windows {
  constructor(private analytics = new CampaignAnalytics()) {}

  add(at: number, n = 1): void {
    for (let i = 0; i < Math.abs(n); i++) {
      if (n > 0) this.analytics.countedAt(at);
      else this.analytics.uncount(at);
    }
  }

  lastHour(at: number): number {
    return this.analytics.lastHour(at);
  }

  lastDay(at: number): number {
    return this.analytics.lastDay(at);
  }

  compact(at: number): void {
    this.analytics.compact(at, Infinity);
  }

  /** Bytes of the minute pages (the hour buckets hold nothing for these counts). */
  get bytes(): number {
    return this.analytics.bytes - EMPTY_BYTES;
  }

  capture(): Windows {
    const restored = CampaignAnalytics.restore(this.analytics.capture());
    restored.restoreWindows(this.analytics.captureWindows());
    return new Windows(restored);
  }
}

/** Epoch milliseconds of millisecond `ms` within minute `minute`. */
const at = (minute: number, ms = 0): number => minute * MINUTE_MS + ms;
const LAST_MS = MINUTE_MS - 1;

function windowsWith(...times: number[]): Windows {
  const w = new Windows();
  for (const t of times) w.add(t);
  return w;
}

describe('last hour and last day over the analytics minute tier', () => {
  it('starts empty and holds no buckets', () => {
    const w = new Windows();
    expect(w.lastHour(at(M))).to.equal(0);
    expect(w.lastDay(at(M))).to.equal(0);
    expect(w.bytes).to.equal(0);
  });

  it('counts an impression in both the hour and the day, and allocates at most 8 KB', () => {
    const w = windowsWith(at(M, 30_000));
    expect(w.lastHour(at(M, 30_000))).to.equal(1);
    expect(w.lastDay(at(M, 30_000))).to.equal(1);
    expect(w.bytes).to.be.at.most(8 * 1024);
  });

  it('adds n impressions at once', () => {
    const w = new Windows();
    w.add(at(M), 5);
    w.add(at(M + 1), 2);
    expect(w.lastHour(at(M + 1))).to.equal(7);
    expect(w.lastDay(at(M + 1))).to.equal(7);
  });

  describe('the hour edge (the current minute and the 59 before it)', () => {
    it('still counts an impression of minute M at the last millisecond of minute M+59', () => {
      for (const ms of [0, LAST_MS]) {
        const w = windowsWith(at(M, ms));
        expect(w.lastHour(at(M + 59, LAST_MS)), `added at ms ${ms}`).to.equal(1);
      }
    });

    it('drops it at the first millisecond of minute M+60, keeping it in the day', () => {
      for (const ms of [0, LAST_MS]) {
        const w = windowsWith(at(M, ms));
        expect(w.lastHour(at(M + 60)), `added at ms ${ms}`).to.equal(0);
        expect(w.lastDay(at(M + 60)), `added at ms ${ms}`).to.equal(1);
      }
    });

    it('drops it at minute M+60 also when read once per minute on the way there', () => {
      const w = windowsWith(at(M));
      for (let m = M; m <= M + 59; m++) expect(w.lastHour(at(m, LAST_MS)), `minute M+${m - M}`).to.equal(1);
      expect(w.lastHour(at(M + 60))).to.equal(0);
    });
  });

  describe('the day edge (the current minute and the 1,439 before it)', () => {
    it('still counts an impression of minute M at the last millisecond of minute M+1439', () => {
      for (const ms of [0, LAST_MS]) {
        const w = windowsWith(at(M, ms));
        expect(w.lastDay(at(M + 1_439, LAST_MS)), `added at ms ${ms}`).to.equal(1);
        expect(w.lastHour(at(M + 1_439, LAST_MS))).to.equal(0);
      }
    });

    it('drops it at the first millisecond of minute M+1440', () => {
      for (const ms of [0, LAST_MS]) {
        const w = windowsWith(at(M, ms));
        expect(w.lastDay(at(M + 1_440)), `added at ms ${ms}`).to.equal(0);
      }
    });

    it('drops it at minute M+1440 also when read every few minutes on the way there', () => {
      const w = windowsWith(at(M));
      for (let m = M; m < M + 1_440; m += 7) expect(w.lastDay(at(m))).to.equal(1);
      expect(w.lastDay(at(M + 1_439, LAST_MS))).to.equal(1);
      expect(w.lastDay(at(M + 1_440))).to.equal(0);
    });
  });

  it('agrees with a brute-force count over a random day and a half of traffic, including older adds', () => {
    // Arrange
    const w = new Windows();
    const added: { minute: number; n: number }[] = [];
    let x = 7;
    const random = (): number => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    let now = at(M);
    let mismatches = 0;

    // Act
    for (let step = 0; step < 3_000; step++) {
      now += Math.floor(random() * 2 * MINUTE_MS);
      // Mostly now, sometimes late by up to two days (late beyond the day must not count anywhere).
      const late = random() < 0.2 ? Math.floor(random() * 2 * DAY_MINUTES * MINUTE_MS) : 0;
      const t = now - late;
      const n = 1 + Math.floor(random() * 3);
      w.add(t, n);
      added.push({ minute: Math.floor(t / MINUTE_MS), n });
      const current = Math.floor(now / MINUTE_MS);
      const sum = (span: number): number =>
        added.filter((a) => a.minute > current - span && a.minute <= current).reduce((s, a) => s + a.n, 0);
      if (w.lastHour(now) !== sum(HOUR_MINUTES)) mismatches++;
      if (w.lastDay(now) !== sum(DAY_MINUTES)) mismatches++;
    }

    // Assert
    expect(now - at(M)).to.be.greaterThan(1.5 * DAY_MINUTES * MINUTE_MS);
    expect(mismatches).to.equal(0);
  });

  it('resets both windows after a jump longer than a day, then counts afresh', () => {
    // Arrange
    const w = new Windows();
    for (let m = M; m < M + 100; m++) w.add(at(m), 3);

    // Act + Assert
    expect(w.lastDay(at(M + 99 + 2 * DAY_MINUTES))).to.equal(0);
    expect(w.lastHour(at(M + 99 + 2 * DAY_MINUTES))).to.equal(0);
    w.add(at(M + 100 + 2 * DAY_MINUTES));
    expect(w.lastHour(at(M + 100 + 2 * DAY_MINUTES))).to.equal(1);
    expect(w.lastDay(at(M + 100 + 2 * DAY_MINUTES))).to.equal(1);
  });

  it('resets after a jump of exactly one day since the last add', () => {
    const w = windowsWith(at(M), at(M + 10));
    expect(w.lastDay(at(M + 10 + DAY_MINUTES))).to.equal(0);
    expect(w.lastDay(at(M + 10 + DAY_MINUTES - 1, LAST_MS))).to.equal(0);
  });

  describe('out-of-order adds', () => {
    it('put an older impression into its own minute, so it leaves the hour on its own schedule', () => {
      // Arrange
      const w = windowsWith(at(M + 30));

      // Act
      w.add(at(M));

      // Assert
      expect(w.lastHour(at(M + 30))).to.equal(2);
      expect(w.lastHour(at(M + 59, LAST_MS))).to.equal(2);
      expect(w.lastHour(at(M + 60))).to.equal(1);
      expect(w.lastHour(at(M + 89, LAST_MS))).to.equal(1);
      expect(w.lastHour(at(M + 90))).to.equal(0);
      expect(w.lastDay(at(M + 1_439, LAST_MS))).to.equal(2);
      expect(w.lastDay(at(M + 1_440))).to.equal(1);
      expect(w.lastDay(at(M + 1_470))).to.equal(0);
    });

    it('count an impression older than the hour but inside the day in the day only', () => {
      const w = windowsWith(at(M + 100));
      w.add(at(M + 100 - 60));
      w.add(at(M + 100 - 59));
      expect(w.lastHour(at(M + 100))).to.equal(2);
      expect(w.lastDay(at(M + 100))).to.equal(3);
    });

    it('ignore an impression older than the day window in both windows', () => {
      const w = windowsWith(at(M + DAY_MINUTES));
      w.add(at(M));
      w.add(at(M + 1));
      expect(w.lastHour(at(M + DAY_MINUTES))).to.equal(1);
      expect(w.lastDay(at(M + DAY_MINUTES))).to.equal(2);
    });

    it('let the first impression of a fresh ring be older than a later one', () => {
      const w = windowsWith(at(M + 10), at(M + 5), at(M + 20));
      expect(w.lastHour(at(M + 64, LAST_MS))).to.equal(3);
      expect(w.lastHour(at(M + 65))).to.equal(2);
    });
  });

  describe('compact', () => {
    it('answers 0 from the first millisecond the day is empty, and frees the minute page once the tier no longer keeps it', () => {
      // Arrange: the tier keeps its minutes for the time series (48 hours by default).
      const w = windowsWith(at(M));
      const freedAt = (Math.floor(M / 60) + 1) * 60 + KEPT_MINUTES - 1;

      // Act + Assert
      w.compact(at(M + 1_439, LAST_MS));
      expect(w.lastDay(at(M + 1_439, LAST_MS))).to.equal(1);
      w.compact(at(M + 1_440));
      expect(w.lastHour(at(M + 1_440))).to.equal(0);
      expect(w.lastDay(at(M + 1_440))).to.equal(0);
      w.compact(at(freedAt - 1, LAST_MS));
      expect(w.bytes).to.equal(PAGE_BYTES);
      w.compact(at(freedAt));
      expect(w.bytes).to.equal(0);
      expect(w.lastDay(at(freedAt))).to.equal(0);
    });

    it('leaves a compacted campaign able to count again', () => {
      const w = windowsWith(at(M));
      w.compact(at(M + 3 * DAY_MINUTES));

      w.add(at(M + 3 * DAY_MINUTES + 1));

      expect(w.bytes).to.equal(PAGE_BYTES);
      expect(w.lastHour(at(M + 3 * DAY_MINUTES + 1))).to.equal(1);
      expect(w.lastDay(at(M + 3 * DAY_MINUTES + 1))).to.equal(1);
    });

    it('frees nothing on a window that never counted', () => {
      const w = new Windows();
      w.compact(at(M));
      expect(w.bytes).to.equal(0);
    });
  });

  it('subtracts a minute leaving the day before another counter of a later minute recycles its page', () => {
    // Arrange: the shortest retention (25 hours of minutes, 26 pages of an hour); one counted
    // impression in the first minute of page P, read 1,400 minutes later.
    const analytics = new CampaignAnalytics({ ...DEFAULT_ANALYTICS, minuteRetentionMs: 0 });
    const w = new Windows(analytics);
    const c = 466_700 * 60;
    w.add(at(c));
    expect(w.lastDay(at(c + 1_400))).to.equal(1);

    // Act: a duplicate in page P + 26 takes over page P's slot.
    analytics.impression('ad-1', at(c + 26 * 60), TallyCode.duplicate, undefined);

    // Assert
    expect(w.lastDay(at(c + 26 * 60))).to.equal(0);
    expect(w.lastHour(at(c + 26 * 60))).to.equal(0);
  });

  describe('small epoch times (fake clocks start at 0)', () => {
    it('counts from t = 0 and honours both edges', () => {
      const w = windowsWith(0);
      expect(w.lastHour(at(59, LAST_MS))).to.equal(1);
      expect(w.lastHour(at(60))).to.equal(0);
      expect(w.lastDay(at(1_439, LAST_MS))).to.equal(1);
      expect(w.lastDay(at(1_440))).to.equal(0);
    });

    it('wraps the ring correctly in the first minutes after t = 0', () => {
      const w = new Windows();
      for (let m = 0; m < 3 * HOUR_MINUTES; m++) w.add(at(m));
      expect(w.lastHour(at(3 * HOUR_MINUTES - 1))).to.equal(HOUR_MINUTES);
      expect(w.lastDay(at(3 * HOUR_MINUTES - 1))).to.equal(3 * HOUR_MINUTES);
    });
  });

  it('reads in O(1): with a million impressions in the day, a read is exact and takes microseconds', () => {
    // Arrange: impression i lands in minute M + (i mod 1440).
    const total = 1_000_000;
    const w = new Windows();
    for (let i = 0; i < total; i++) w.add(at(M + (i % DAY_MINUTES)));
    const inMinute = (k: number): number => Math.floor(total / DAY_MINUTES) + (k < total % DAY_MINUTES ? 1 : 0);
    let expectedHour = 0;
    for (let k = DAY_MINUTES - HOUR_MINUTES; k < DAY_MINUTES; k++) expectedHour += inMinute(k);
    const reads = 100_000;
    const started = performance.now();

    // Act
    let sum = 0;
    for (let i = 0; i < reads; i++) sum += w.lastHour(at(M + DAY_MINUTES - 1, i % MINUTE_MS));

    // Assert
    expect(sum).to.equal(expectedHour * reads);
    expect(w.lastDay(at(M + DAY_MINUTES - 1))).to.equal(total);
    expect((performance.now() - started) / reads).to.be.lessThan(0.01);
  });

  it('restores from a captured image into an independent copy', () => {
    const original = windowsWith(at(M), at(M + 30));
    const restored = original.capture();
    original.add(at(M + 31), 10);

    expect(restored.lastHour(at(M + 59, LAST_MS))).to.equal(2);
    expect(restored.lastHour(at(M + 60))).to.equal(1);
    expect(restored.lastDay(at(M + 60))).to.equal(2);
  });
});

describe("an older snapshot's ring of minutes (TrailingSums.ringAt)", () => {
  /** A ring whose head is minute M, each slot holding its own minute's offset from M - 1439, plus one. */
  const image = (length = DAY_MINUTES) => {
    const ring = new Uint32Array(length);
    for (let m = M - DAY_MINUTES + 1; m <= M; m++) ring[m % length] = m - (M - DAY_MINUTES);
    return { ring, head: M, hourSum: 0, daySum: 0 };
  };

  it('reads the 1,440 minutes up to its head, and 0 one minute past either end', () => {
    expect(TrailingSums.ringAt(image(), M)).to.equal(DAY_MINUTES);
    expect(TrailingSums.ringAt(image(), M + 1), 'after its head: another minute that shares the slot').to.equal(0);
    expect(TrailingSums.ringAt(image(), M - DAY_MINUTES + 1)).to.equal(1);
    expect(TrailingSums.ringAt(image(), M - DAY_MINUTES), 'a day before its head: the slot holds the head minute').to.equal(0);
  });

  it('reads nothing from a ring that is not 1,440 minutes long, or absent', () => {
    expect(TrailingSums.ringAt(image(DAY_MINUTES - 1), M)).to.equal(0);
    expect(TrailingSums.ringAt({ ring: undefined, head: M, hourSum: 0, daySum: 0 }, M)).to.equal(0);
  });
});
