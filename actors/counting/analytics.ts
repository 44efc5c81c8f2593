import {
  DEFAULT_ANALYTICS,
  OTHER_AD,
  SeriesSource,
  TallyCode,
  type AdInfo,
  type AdPage,
  type AdRegistration,
  type AdTotals,
  type AnalyticsJournal,
  type AnalyticsOptions,
  type AnalyticsReport,
  type AnalyticsSpan,
  type AnalyticsWindow,
  type Click,
  type ClickFact,
  type ClickOutcome,
  type SeriesAnswer,
  type SeriesQuery,
} from './analytics-values.js';
import { AdRow, type RowImage } from './ad-row.js';
import { DedupeTable, IDEMPOTENCY_TTL_MS, type DedupeImage } from './dedupe.js';
import { hash128 } from './hash128.js';
import { CAMPAIGN_HLL_P, captureStats, KEPT, loadStats, MINUTE_MS, QUARTER_MS, spanOf, Stats, type StatsImage } from './stats.js';
import { DAY_MS, DayTier, Metric, SERIES, SUM_WIDTH, Tier, type TierImage } from './tiers.js';
import { TrailingSums, type WindowsImage } from './windows.js';

export { AD_HLL_P, CAMPAIGN_HLL_P } from './stats.js';

/**
 * A campaign's analytics: ad metadata, per-ad and campaign-wide counters in time buckets, distinct-user
 * sketches, the time series and the click dedupe table. Owned by the campaign actor's state (created on
 * first use) and mutated in place like the rest of it. Every answer is computed from buckets.
 */
export class CampaignAnalytics {
  readonly options: AnalyticsOptions;
  readonly ads = new Map<string, AdInfo>();
  private readonly tracked = new Map<string, AdRow>();
  private other: AdRow | undefined;
  /** Bytes of every ad row (and `(other)`), kept as rows change: `bytes` never walks the rows. */
  private rowBytes = 0;
  private rowsCompactedHour = -Infinity;
  /** Campaign-wide figures. */
  private readonly all: Stats;
  /** Time series beyond the minute buckets: counted impressions and clicks per quarter hour and per day. */
  private readonly quarters: Tier;
  private readonly days: DayTier;
  private clickDedupe: DedupeTable | undefined;
  private readonly clickDigest = new Uint32Array(4);
  /** Click ids seen in the last day (from arrival), by first outcome; created on first use. */
  private clickIds: ClickIds | undefined;
  private readonly clickIdDigest = new Uint32Array(4);
  /** Bytes of registered ads' metadata. */
  private adBytes = 0;
  // The message being tallied for the journal: 3 bytes per impression and the ads it names.
  private tally = new Uint8Array(0);
  private tallyLength = 0;
  /** The time of the message's first tallied impression; while all share it, no per-impression times are kept. */
  private tallyAt = 0;
  /**
   * When each tallied impression happened, only once one said another time than the first (a
   * timestamp); empty otherwise, and dropped after each such message, so it costs nothing at rest.
   */
  private tallyTimes = new Float64Array(0);
  private readonly tallyAds: string[] = [];
  private tallyAdCount = 0;
  private tallyMessage = 0;
  private lastAd: AdRow | undefined;
  // Recovery only: digests of replayed `counted` facts waiting for their `tallied` fact.
  private stash = new Uint32Array(0);
  private stashed = 0;
  private readonly pendingAds: string[] = [];
  private pendingHead = 0;

  constructor(options: AnalyticsOptions = DEFAULT_ANALYTICS) {
    this.options = options;
    this.all = new Stats('', CAMPAIGN_HLL_P, Math.max(KEPT.minutes, Math.ceil(options.minuteRetentionMs / MINUTE_MS)), true);
    this.quarters = new Tier(SERIES, QUARTER_MS, 96, Math.ceil(options.hourRetentionMs / QUARTER_MS));
    this.days = new DayTier(options.dayRetentionMs / DAY_MS);
    if (options.clickTtlMs > 0) this.clickDedupe = new DedupeTable(options.clickTtlMs);
  }

  // ---- impressions ------------------------------------------------------------------------------

  /** Starts tallying one `impressions` message. */
  begin(): void {
    this.tallyLength = 0;
    this.tallyTimes = NO_TIMES;
    this.tallyAdCount = 0;
    this.tallyMessage++;
  }

  /**
   * Records one impression's fate at `at` (a TallyCode). `d` is the user's digest, added to the
   * distinct-user sketches when counted. O(1): a few bucket bumps and sketch updates, and no
   * allocation in the steady state.
   */
  impression(adId: string, at: number, code: number, d: Uint32Array | undefined): void {
    if (code === TallyCode.counted) this.countedAt(at);
    this.tallied(adId, at, code, d);
  }

  /**
   * Counts one counted impression in the campaign's minute at `at`, the one place `last_hour` and
   * `last_day` read. The campaign does it inside its commit (all or nothing, undone by `uncount`),
   * and replay does it for every journaled `counted` fact, so these windows always agree with `total`.
   */
  countedAt(at: number): void {
    this.all.countMinute(at, Metric.counted, 1);
  }

  /** Undoes `countedAt(at)` (a commit rolled back). */
  uncount(at: number): void {
    this.all.countMinute(at, Metric.counted, -1);
  }

  /** Counted impressions in the trailing hour (the minute of `at` and the 59 before it), O(1). */
  lastHour(at: number): number {
    return this.all.lastHour(at);
  }

  /** Counted impressions in the trailing day (the minute of `at` and the 1,439 before it), O(1). */
  lastDay(at: number): number {
    return this.all.lastDay(at);
  }

  /** `impression` less the campaign's minute of a counted one, which `countedAt` has counted already. */
  tallied(adId: string, at: number, code: number, d: Uint32Array | undefined): void {
    const ad = this.adFor(adId);
    const before = ad.bytes;
    const metric = code === TallyCode.counted ? Metric.counted : code === TallyCode.duplicate ? Metric.duplicates : Metric.botImpressions;
    if (code === TallyCode.counted) this.all.countBeyondMinutes(at, metric);
    else this.all.count(at, metric);
    ad.count(at, metric);
    if (code === TallyCode.counted) {
      this.quarters.bump(at, 0);
      this.days.bump(at, 0);
      if (d !== undefined) {
        this.all.users(at, d);
        ad.users(at, d);
      }
    }
    this.rowBytes += ad.bytes - before;
    this.pushTally(ad, code, at);
  }

  /** Journals the tally of the message begun last (also after a crash part-way through it). */
  flush(campaignId: string, at: number, journal: Partial<AnalyticsJournal> | undefined): void {
    if (this.tallyLength > 0 && journal?.tallied !== undefined) {
      const n = this.tallyLength / 3;
      // Times go to the journal only when some impression was not at `at` (the common tally stays 3 bytes an impression).
      let times: Float64Array | undefined;
      if (this.tallyTimes.length > 0) times = this.tallyTimes.slice(0, n);
      else if (this.tallyAt !== at) times = new Float64Array(n).fill(this.tallyAt);
      journal.tallied(campaignId, at, this.tallyAds, this.tallyAdCount, this.tally.subarray(0, this.tallyLength), times);
    }
    this.tallyLength = 0;
    this.tallyAdCount = 0;
    this.tallyTimes = NO_TIMES;
  }

  private pushTally(ad: AdRow, code: number, at: number): void {
    if (ad.mark !== this.tallyMessage) {
      ad.mark = this.tallyMessage;
      ad.local = this.tallyAdCount;
      this.tallyAds[this.tallyAdCount++] = ad.id;
    }
    if (this.tallyLength + 3 > this.tally.length) {
      const grown = new Uint8Array(Math.max(48, this.tally.length * 2));
      grown.set(this.tally.subarray(0, this.tallyLength));
      this.tally = grown;
      if (this.tallyTimes.length > 0) this.tallyTimes = grownTimes(this.tallyTimes, grown.length / 3);
    }
    const k = this.tallyLength / 3;
    if (k === 0) this.tallyAt = at;
    else if (this.tallyTimes.length > 0) this.tallyTimes[k] = at;
    else if (at !== this.tallyAt) {
      this.tallyTimes = new Float64Array(this.tally.length / 3).fill(this.tallyAt, 0, k);
      this.tallyTimes[k] = at;
    }
    const t = this.tally;
    const i = this.tallyLength;
    t[i] = ad.local & 0xff;
    t[i + 1] = ad.local >>> 8;
    t[i + 2] = code;
    this.tallyLength = i + 3;
  }

  /** The row of `adId`: its own while fewer than `maxAds` ads are tracked, else `(other)`. */
  private adFor(adId: string): AdRow {
    const last = this.lastAd;
    if (last !== undefined && last.id === adId) return last;
    let ad = this.tracked.get(adId);
    if (ad === undefined) {
      if (this.tracked.size < this.options.maxAds && adId !== OTHER_AD) this.tracked.set(adId, (ad = this.newRow(adId)));
      else ad = this.other ??= this.newRow(OTHER_AD);
    }
    this.lastAd = ad;
    return ad;
  }

  private newRow(adId: string): AdRow {
    const row = new AdRow(adId);
    this.rowBytes += row.bytes;
    return row;
  }

  /** Whether `adId` would need a row of its own that does not exist yet (state growth). */
  wouldAddRow(adId: string): boolean {
    if (this.lastAd?.id === adId || this.tracked.has(adId)) return false;
    return this.tracked.size < this.options.maxAds && adId !== OTHER_AD ? true : this.other === undefined;
  }

  // ---- clicks -----------------------------------------------------------------------------------

  /**
   * Applies one click of a started campaign, received at `now`, and says what became of it; `facts`
   * collects what the journal must hold.
   */
  click(click: Click, now: number, facts: ClickFact[] | undefined): ClickOutcome {
    const ad = this.adFor(click.adId);
    const before = ad.bytes;
    try {
      return this.applyClick(ad, click, now, facts);
    } finally {
      this.rowBytes += ad.bytes - before;
    }
  }

  private applyClick(ad: AdRow, click: Click, now: number, facts: ClickFact[] | undefined): ClickOutcome {
    const at = click.at;
    if (click.bot === true) {
      this.all.count(at, Metric.botClicks);
      ad.count(at, Metric.botClicks);
      facts?.push({ at, adId: click.adId, outcome: 'bot_filtered', playbackTime: undefined, digest: undefined });
      return 'bot_filtered';
    }
    // Like impression ids: the window runs from arrival, since a retry's timestamp is the first try's.
    let id: Uint32Array | undefined;
    if (click.clickId !== undefined) {
      id = this.clickIdDigest;
      hash128(click.clickId, id);
      if (this.clickIds?.counted.hasDigest(id, now)) return 'replayed_counted';
      if (this.clickIds?.duplicate.hasDigest(id, now)) return 'replayed_duplicate';
    }
    let digest: Uint32Array | undefined;
    const key = click.userId !== undefined ? `u${click.userId}` : click.ipAddress !== undefined ? `i${click.ipAddress}` : undefined;
    if (this.clickDedupe !== undefined && key !== undefined) {
      digest = this.clickDigest;
      hash128(`${click.adId}\u0000${key}`, digest);
      if (!this.clickDedupe.admitDigest(digest, at)) {
        this.all.count(at, Metric.duplicateClicks);
        ad.count(at, Metric.duplicateClicks);
        const remembered = this.rememberClickId(id, now, false); // (not inside `facts?.push`: it must run without a journal too)
        facts?.push({ at, adId: click.adId, outcome: 'duplicate', playbackTime: undefined, digest: undefined, ...remembered });
        return 'duplicate';
      }
    }
    this.countClick(ad, at, click.playbackTime);
    const remembered = this.rememberClickId(id, now, true);
    facts?.push({ at, adId: click.adId, outcome: 'counted', playbackTime: click.playbackTime, digest: digest?.slice(), ...remembered });
    return 'counted';
  }

  /** Enters a click id under its first outcome; the journal fact's `clickId` part, if there was one. */
  private rememberClickId(id: Uint32Array | undefined, at: number, counted: boolean): { clickId?: ClickFact['clickId'] } {
    if (id === undefined) return {};
    const ids = (this.clickIds ??= newClickIds());
    (counted ? ids.counted : ids.duplicate).admitDigest(id, at);
    return { clickId: { digest: id.slice(), at } };
  }

  private countClick(ad: AdRow, at: number, playbackTime: number | undefined): void {
    this.all.count(at, Metric.clicks);
    ad.count(at, Metric.clicks);
    this.quarters.bump(at, 1);
    this.days.bump(at, 1);
    if (playbackTime !== undefined) {
      this.all.playback(at, playbackTime);
      ad.playback(at, playbackTime);
    }
  }

  // ---- ads --------------------------------------------------------------------------------------

  register(ad: AdInfo): AdRegistration {
    const existing = this.ads.get(ad.id);
    if (existing !== undefined) {
      const same = existing.name === ad.name && existing.imageUrl === ad.imageUrl && existing.targetUrl === ad.targetUrl;
      return same ? 'exists' : 'conflict';
    }
    if (this.ads.size >= this.options.maxAds) return 'limit';
    this.ads.set(ad.id, ad);
    this.adBytes += AD_INFO_BYTES + ad.id.length + ad.name.length + ad.imageUrl.length + ad.targetUrl.length;
    this.adFor(ad.id); // a row of its own from the start, while there is room
    return 'created';
  }

  listAds(after: number, limit: number): AdPage {
    const all = [...this.ads.values()];
    const end = after + limit;
    return { ads: all.slice(after, end), next: end < all.length ? end : undefined };
  }

  /**
   * Per ad row, read at `at`: the figures of `span`; without one, all-time figures less those of the
   * minutes from `before` on (the minute buckets still hold them: `before` is less than a day old).
   */
  totals(at: number, span?: AnalyticsSpan, before = Infinity): AdTotals[] {
    const rows: AdTotals[] = [];
    const after: AnalyticsSpan | undefined = before > at ? undefined : { counters: 'minutes', from: Math.floor(before / MINUTE_MS), to: Math.floor(at / MINUTE_MS), sketch: 'tenMin', sketchFrom: 1, sketchTo: 0 };
    for (const ad of this.rows()) {
      if (span !== undefined) {
        const f = ad.sums(at, span);
        rows.push({ adId: ad.id, counted: f[Metric.counted], clicks: f[Metric.clicks], playbackCount: f[Metric.playbackCount], playbackSeconds: f[SUM_WIDTH - 1] });
        continue;
      }
      const t = ad.totals;
      const later = after && ad.sums(at, after);
      rows.push({
        adId: ad.id,
        counted: t[Metric.counted] - (later?.[Metric.counted] ?? 0),
        clicks: t[Metric.clicks] - (later?.[Metric.clicks] ?? 0),
        playbackCount: t[Metric.playbackCount] - (later?.[Metric.playbackCount] ?? 0),
        playbackSeconds: t[SUM_WIDTH - 1] - (later?.[SUM_WIDTH - 1] ?? 0),
      });
    }
    return rows;
  }

  private *rows(): Iterable<AdRow> {
    yield* this.tracked.values();
    if (this.other !== undefined) yield this.other;
  }

  // ---- reads ------------------------------------------------------------------------------------

  /** The figures of `window` ending at `at` (or of a span read at `at`), campaign-wide and optionally per ad. */
  report(at: number, what: AnalyticsWindow | AnalyticsSpan, byAd: boolean): AnalyticsReport {
    const span = spanOf(at, what);
    const campaign = this.all.figures(at, span);
    if (!byAd) return { campaign };
    const ads = [];
    for (const ad of this.rows()) ads.push({ adId: ad.id, figures: ad.figures(at, span) });
    return { campaign, ads };
  }

  /** Sums each bucket of `query` from its source (minute, quarter-hour or UTC-day buckets). */
  series(at: number, query: SeriesQuery): SeriesAnswer {
    const n = query.starts.length;
    const impressions = new Float64Array(n);
    const clicks = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const source = query.sources[i];
      const [width, read] =
        source === SeriesSource.minute
          ? [MINUTE_MS, (b: number, m: 0 | 1, now: number) => this.all.minutes.get(b, m === 0 ? Metric.counted : Metric.clicks, now)]
          : source === SeriesSource.quarterHour
            ? [QUARTER_MS, (b: number, m: 0 | 1, now: number) => this.quarters.get(b, m, now)]
            : [DAY_MS, (b: number, m: 0 | 1, now: number) => this.days.get(b, m, now)];
      const now = Math.floor(at / width);
      const last = Math.ceil(query.ends[i] / width) - 1;
      for (let b = Math.ceil(query.starts[i] / width); b <= last; b++) {
        impressions[i] += read(b, 0, now);
        clicks[i] += read(b, 1, now);
      }
    }
    return { impressions, clicks };
  }

  /** Frees buckets and sketches past their retention, and expired click dedupe entries. */
  compact(at: number, budget: number): number {
    this.all.compact(at);
    this.quarters.compact(at);
    this.days.compact(at);
    // Rows rebuild their arrays when they compact, so they do it once an hour, not on every sweep.
    const hour = Math.floor(at / 3_600_000);
    if (hour > this.rowsCompactedHour) {
      this.rowsCompactedHour = hour;
      for (const ad of this.rows()) {
        const before = ad.bytes;
        ad.compact(at);
        this.rowBytes += ad.bytes - before;
      }
    }
    let scanned = this.clickDedupe?.sweep(at, budget) ?? 0;
    if (this.clickIds !== undefined) scanned += this.clickIds.counted.sweep(at, budget) + this.clickIds.duplicate.sweep(at, budget);
    return scanned;
  }

  /** Approximate bytes held, in O(1) (ad metadata is counted when registered, see `register`). */
  get bytes(): number {
    return ANALYTICS_BYTES + this.all.bytes + this.quarters.bytes + this.days.bytes + this.rowBytes + this.adBytes + (this.clickDedupe?.bytes ?? 0) + (this.clickIds ? this.clickIds.counted.bytes + this.clickIds.duplicate.bytes : 0) + this.tally.byteLength + this.tallyTimes.byteLength + this.stash.byteLength;
  }

  // ---- recovery ---------------------------------------------------------------------------------

  /**
   * A replayed `counted` fact: it takes the ad its message's tally (met first) names for it, or waits
   * in the stash for a tally that follows.
   */
  replayCountedUser(d: Uint32Array, at: number): void {
    if (this.pendingHead < this.pendingAds.length) {
      this.tallied(this.pendingAds[this.pendingHead++], at, TallyCode.counted, d);
      return;
    }
    this.stash_(d);
  }

  private stash_(d: Uint32Array): void {
    // A well-formed journal has a tally after every message; a huge backlog means there is none.
    if (this.stashed >= 1 << 20) this.stashed = 0;
    if ((this.stashed + 1) * 4 > this.stash.length) {
      const grown = new Uint32Array(Math.max(64, this.stash.length * 2));
      grown.set(this.stash.subarray(0, this.stashed * 4));
      this.stash = grown;
    }
    this.stash.set(d, this.stashed * 4);
    this.stashed++;
  }

  /**
   * Replays a `tallied` fact. Its counted items take their digests from the `counted` facts: the ones
   * stashed already (a tally journaled after them), or else the ones that follow (whose facts carry
   * their times). `times` holds each impression's time when some said one; else all are at `at`.
   */
  replayTallied(at: number, ads: readonly string[], items: Uint8Array, times?: Float64Array): void {
    // A new tally ends the previous message: ads it left waiting had their facts cut off.
    this.pendingAds.length = 0;
    this.pendingHead = 0;
    if (this.stashed === 0) {
      for (let i = 0; i + 2 < items.length; i += 3) {
        const adId = ads[items[i] | (items[i + 1] << 8)] ?? OTHER_AD;
        if (items[i + 2] === TallyCode.counted) this.pendingAds.push(adId);
        else this.tallied(adId, times?.[i / 3] ?? at, items[i + 2], undefined);
      }
      this.tallyLength = 0;
      this.tallyTimes = NO_TIMES;
      this.tallyAdCount = 0;
      return;
    }
    let counted = 0;
    for (let i = 2; i < items.length; i += 3) if (items[i] === TallyCode.counted) counted++;
    // This message's digests are the last `counted` ones stashed (older ones belong to no tally).
    let next = this.stashed - counted;
    for (let i = 0; i + 2 < items.length; i += 3) {
      const code = items[i + 2];
      let d: Uint32Array | undefined;
      if (code === TallyCode.counted && next++ >= 0) d = this.stash.subarray((next - 1) * 4, next * 4);
      this.tallied(ads[items[i] | (items[i + 1] << 8)] ?? OTHER_AD, times?.[i / 3] ?? at, code, d);
    }
    this.stashed = 0;
    this.tallyLength = 0;
    this.tallyTimes = NO_TIMES;
    this.tallyAdCount = 0;
  }

  replayClicked(facts: readonly ClickFact[]): void {
    for (const f of facts) {
      if (f.clickId !== undefined) {
        const ids = (this.clickIds ??= newClickIds());
        (f.outcome === 'counted' ? ids.counted : ids.duplicate).restoreDigest(f.clickId.digest, f.clickId.at);
      }
      const ad = this.adFor(f.adId);
      const before = ad.bytes;
      if (f.outcome === 'counted') {
        if (f.digest !== undefined) this.clickDedupe?.restoreDigest(f.digest, f.at);
        this.countClick(ad, f.at, f.playbackTime);
      } else {
        const metric = f.outcome === 'duplicate' ? Metric.duplicateClicks : Metric.botClicks;
        this.all.count(f.at, metric);
        ad.count(f.at, metric);
      }
      this.rowBytes += ad.bytes - before;
    }
  }

  /** Drops recovery scratch space once replay is over. */
  endReplay(): void {
    this.stash = new Uint32Array(0);
    this.stashed = 0;
    this.pendingAds.length = 0;
    this.pendingHead = 0;
  }

  // ---- snapshots --------------------------------------------------------------------------------

  /** The trailing sums, captured with (and consistent with) `capture()`'s minute buckets. */
  captureWindows(): WindowsImage {
    return (this.all.trail as TrailingSums).capture();
  }

  /**
   * Restores the trailing sums captured with the minute buckets. An older snapshot's ring of minutes
   * (kept apart then) is the truth for the day it covers: its minutes replace the counted minutes
   * held here, so `last_hour` and `last_day` answer exactly what they answered before.
   */
  restoreWindows(image: WindowsImage): void {
    if (image.ring !== undefined) {
      const minutes = this.all.minutes;
      for (let m = image.head - 1439; m <= image.head; m++) minutes.set(m * MINUTE_MS, Metric.counted, TrailingSums.ringAt(image, m));
    }
    (this.all.trail as TrailingSums).load(image);
  }

  capture(): AnalyticsImage {
    return {
      ads: [...this.ads.values()],
      all: captureStats(this.all),
      tracked: [...this.tracked.values()].map((r) => r.capture()),
      other: this.other?.capture(),
      quarters: this.quarters.capture(),
      days: this.days.capture(),
      clickDedupe: copyTable(this.clickDedupe),
      ...(this.clickIds && { clickIds: { counted: copyTable(this.clickIds.counted), duplicate: copyTable(this.clickIds.duplicate) } }),
    };
  }

  /** Rebuilds analytics from `capture()` output, under (possibly new) options. */
  static restore(image: AnalyticsImage, options: AnalyticsOptions = DEFAULT_ANALYTICS): CampaignAnalytics {
    const a = new CampaignAnalytics(options);
    for (const info of image.ads) {
      a.ads.set(info.id, info);
      a.adBytes += AD_INFO_BYTES + info.id.length + info.name.length + info.imageUrl.length + info.targetUrl.length;
    }
    loadStats(a.all, image.all);
    for (const im of image.tracked) {
      const row = AdRow.restore(im);
      a.tracked.set(im.id, row);
      a.rowBytes += row.bytes;
    }
    if (image.other !== undefined) {
      a.other = AdRow.restore(image.other);
      a.rowBytes += a.other.bytes;
    }
    a.quarters.load(image.quarters);
    a.days.load(image.days);
    if (image.clickDedupe !== undefined && options.clickTtlMs > 0) a.clickDedupe = DedupeTable.restore(image.clickDedupe, options.clickTtlMs);
    if (image.clickIds !== undefined) {
      a.clickIds = { counted: DedupeTable.restore(image.clickIds.counted, IDEMPOTENCY_TTL_MS), duplicate: DedupeTable.restore(image.clickIds.duplicate, IDEMPOTENCY_TTL_MS) };
    }
    return a;
  }
}

const NO_TIMES = new Float64Array(0);

function grownTimes(times: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(length);
  grown.set(times);
  return grown;
}

/**
 * Heap bytes beyond the arrays: the analytics object with its campaign-wide rings, and a registered
 * ad's metadata object and Map entry (plus its strings); measured with `node --expose-gc`.
 */
const ANALYTICS_BYTES = 6000;
const AD_INFO_BYTES = 250;

interface ClickIds {
  readonly counted: DedupeTable;
  readonly duplicate: DedupeTable;
}

function newClickIds(): ClickIds {
  return { counted: new DedupeTable(IDEMPOTENCY_TTL_MS), duplicate: new DedupeTable(IDEMPOTENCY_TTL_MS) };
}

/** A click dedupe or click id table as fresh arrays (they are small; no copy-on-write needed). */
function copyTable(table: DedupeTable): DedupeImage;
function copyTable(table: DedupeTable | undefined): DedupeImage | undefined;
function copyTable(table: DedupeTable | undefined): DedupeImage | undefined {
  if (table === undefined) return undefined;
  const image = table.capture();
  const copy = { ttlMs: image.ttlMs, shards: image.shards.map((s) => ({ ...s, slots: s.slots.slice() })) };
  image.release();
  return copy;
}

/** A campaign's analytics as plain values, for snapshots (analytics-codec.ts turns it into bytes). */
export interface AnalyticsImage {
  readonly ads: AdInfo[];
  readonly all: StatsImage;
  readonly tracked: RowImage[];
  readonly other: RowImage | undefined;
  readonly quarters: TierImage;
  readonly days: ReturnType<DayTier['capture']>;
  readonly clickDedupe: DedupeImage | undefined;
  /** Click ids of the last day by first outcome; absent when none was seen (and in images before v3). */
  readonly clickIds?: { readonly counted: DedupeImage; readonly duplicate: DedupeImage };
}
