import type { ActorRef, AnyActorRef, Snapshot } from 'xstate';
import type {
  AdInfo,
  AdPage,
  AdRegistration,
  AdTotals,
  AnalyticsEvent,
  AnalyticsJournal,
  AnalyticsOptions,
  AnalyticsReport,
  AnalyticsSpan,
  Click,
  ClickFact,
  ClickOutcome,
  SeriesAnswer,
  SeriesQuery,
} from './analytics-protocol.js';
import type { Reply } from './ask.js';
import type { AnalyticsImage } from './counting/analytics.js';
import type { StateBudget } from './counting/budget.js';
import type { DedupeImage } from './counting/dedupe.js';
import type { WindowsImage } from './counting/windows.js';

/**
 * Messages the registry and campaign actors exchange, and the values they reply with. Both actor
 * files import this one so neither imports the other.
 */

export { IDEMPOTENCY_TTL_MS } from './counting/dedupe.js';

export type { Reply } from './ask.js';

/** The parts of a CampaignImage, for whoever encodes it (the snapshot codec in src/storage). */
export type { AnalyticsImage, DedupeImage, WindowsImage };
export type { RowImage } from './counting/ad-row.js';
export type { StatsImage } from './counting/stats.js';
export type { TierImage } from './counting/tiers.js';

/** What a campaign is, as created. Times are epoch milliseconds. */
export interface CampaignInfo {
  readonly id: string;
  readonly name: string;
  readonly startTime: number;
  readonly createdAt: number;
}

/** One impression as received, before it is routed to its campaign. */
export interface Impression {
  readonly campaignId: string;
  readonly userId: string;
  readonly adId: string;
  /** Idempotency key: a retry with the same id within a day returns the first outcome. */
  readonly impressionId?: string;
  /** Its user agent is on the bot list: not counted, tallied as bot_filtered. */
  readonly bot?: boolean;
  /**
   * When it happened (its timestamp, never later than its arrival), if it said: windows, analytics
   * and series count it in that minute, while dedupe and idempotency go by arrival order and time.
   */
  readonly at?: number;
}

/**
 * The fate of one impression: counted, a duplicate within the TTL, a retry of an impression id seen in
 * the last day (`replayed_*`: its first outcome, nothing counted again), sent before the campaign's start
 * time, for a campaign that does not exist, not processed because its campaign actor is down
 * (crashed while handling it, or restarting too often), or refused because it would add state (a new
 * user or ad) while state is at its memory budget.
 */
export type Outcome = 'counted' | 'duplicate' | 'replayed_counted' | 'replayed_duplicate' | 'bot_filtered' | 'not_started' | 'not_found' | 'unavailable' | 'dead_letter' | 'over_budget';

/**
 * Where campaign and registry actors record the facts that change state, in processing order: the
 * durable journal implements it (src/storage). Calls are synchronous and must not throw.
 */
export interface JournalSink extends Partial<AnalyticsJournal> {
  created(info: CampaignInfo): void;
  /** The user with 128-bit digest `user` was counted at `at`. */
  counted(campaignId: string, at: number, user: Uint32Array): void;
  /**
   * The user was counted on arrival at `at` for an impression that happened at `eventAt` (earlier).
   * Optional so that older sinks keep working; without it the count is journaled at arrival.
   */
  countedAt?(campaignId: string, at: number, eventAt: number, user: Uint32Array): void;
  /** An impression id was first seen at `at`, with the outcome `counted` (or duplicate). */
  remembered(campaignId: string, at: number, impressionId: Uint32Array, counted: boolean): void;
}

export interface Stats {
  readonly lastHour: number;
  readonly lastDay: number;
  readonly total: number;
}

/** A snapshot of one campaign actor for the inspector and metrics. */
export interface CampaignDescription {
  readonly id: string;
  readonly total: number;
  readonly dedupeEntries: number;
  readonly bytes: number;
}

/**
 * Campaign protocol. `impressions` writes each item's outcome into `out` at the item's index, then
 * calls `done`, so a registry can route one message per campaign and still answer a batch in order.
 * Every message is answered exactly once, by the actor or, if it crashes, by its supervisor
 * (`done` with the unfinished items left `unavailable`, `reply(undefined)` for stats).
 */
export type ImpressionsEvent = {
  readonly type: 'impressions';
  readonly at: number;
  readonly items: readonly Impression[];
  readonly indices: readonly number[];
  readonly out: Outcome[];
  readonly done: () => void;
};

export type CampaignEvent =
  | ImpressionsEvent
  // `not_found` comes only from a campaign kept in a shared store (remote-campaign/).
  | { readonly type: 'stats'; readonly at: number; readonly reply: Reply<Stats | 'not_found' | undefined> }
  | { readonly type: 'sweep'; readonly at: number; readonly budget: number; readonly reply: Reply<number> }
  | { readonly type: 'describe'; readonly reply: Reply<CampaignDescription> }
  | { readonly type: 'capture'; readonly reply: Reply<CampaignImage> }
  | AnalyticsEvent;

/**
 * A campaign's whole state as plain values, for a snapshot. Its arrays must not be written to while
 * the snapshot holds them (the dedupe tables copy on write); `release` ends that.
 */
export interface CampaignImage {
  release?(): void;
  readonly info: CampaignInfo;
  readonly total: number;
  readonly windows: WindowsImage;
  readonly dedupe: DedupeImage;
  readonly idempotency: { readonly counted: DedupeImage; readonly duplicate: DedupeImage } | undefined;
  /** Ads, clicks and analytics buckets; absent when the campaign never had any. */
  readonly analytics?: AnalyticsImage;
}

/**
 * What a campaign actor answers an analytics message with when its store has no campaign of that id,
 * or keeps no such figures (ads, per-ad figures, series): the registry relays them as errors.
 */
export const CHILD_NOT_FOUND = 'child.not_found';
export const CHILD_UNSUPPORTED = 'child.unsupported';

export interface CampaignPage {
  readonly campaigns: CampaignInfo[];
  /** Position to pass as `after` for the next page, absent on the last one. */
  readonly next?: number;
}

/** Campaign records in a shared store. Every call rejects when the store cannot answer. */
export interface CampaignRecords {
  create(info: CampaignInfo): Promise<CampaignInfo>;
  get(id: string): Promise<CampaignInfo | undefined>;
  list(after: number, limit: number): Promise<CampaignPage>;
  /**
   * The records of `ids`, one answer per id in order (undefined: no such campaign), so that an id
   * a registry has not seen costs a cheap read, never an actor.
   */
  find(ids: readonly string[]): Promise<(CampaignInfo | undefined)[]>;
}

/** Impressions stamped with one time, as a campaign actor hands them to its store. */
export interface ImpressionGroup {
  readonly at: number;
  readonly items: readonly Impression[];
}

/**
 * Where campaigns live when service nodes hold no counting state of their own (STORE=redis; the
 * implementation is in src/storage, the actor that counts through it in remote-campaign/): their
 * records and their counts. Every call rejects when the store cannot answer.
 */
export interface CampaignStore extends Omit<CampaignRecords, 'find'> {
  /** Which of `ids` name campaigns in the store: one answer per id, in order. */
  exists(ids: readonly string[]): Promise<boolean[]>;
  /**
   * Applies the groups in order as one atomic step and returns one outcome per item, in order
   * (every item `not_found` when the campaign does not exist).
   */
  ingest(campaignId: string, groups: readonly ImpressionGroup[]): Promise<Outcome[]>;
  /** The campaign's trailing windows and total at `at`, read as one consistent snapshot. */
  stats(campaignId: string, at: number): Promise<Stats | 'not_found'>;
  /**
   * Applies clicks received at `now` as one atomic step: one outcome per click, in order (every one
   * `not_found` without the campaign). Click ids are remembered from `now`.
   */
  clicks?(campaignId: string, items: readonly Click[], now: number): Promise<ClickOutcome[]>;
  /** The campaign's analytics figures of `span` read at `at`, read as one consistent snapshot. */
  analytics?(campaignId: string, at: number, span: AnalyticsSpan, byAd: boolean): Promise<AnalyticsReport | 'not_found'>;
  registerAd?(campaignId: string, ad: AdInfo): Promise<AdRegistration | 'not_found'>;
  listAds?(campaignId: string, after: number, limit: number): Promise<AdPage | 'not_found'>;
  /** Figures per ad row, read at `at`: of `span`, or all-time less the minutes from `before` on (see the `ads.totals` message). */
  adTotals?(campaignId: string, at: number, span?: AnalyticsSpan, before?: number): Promise<AdTotals[] | 'not_found'>;
  /** The campaign's time series buckets of `query` at `at`, read as one consistent snapshot. */
  series?(campaignId: string, at: number, query: SeriesQuery): Promise<SeriesAnswer | 'not_found'>;
}

/** A records call that failed, as the registry answers it: the store's error, for the caller to raise. */
export interface RecordsFailure {
  readonly failed: unknown;
}

/** The value of a records answer; throws its store's error if the call failed. */
export function recorded<T>(answer: T | RecordsFailure): T {
  if (isFailure(answer)) throw answer.failed;
  return answer;
}

function isFailure(answer: unknown): answer is RecordsFailure {
  return typeof answer === 'object' && answer !== null && 'failed' in answer;
}

/** What every campaign actor is made from: its campaign, and the registry's settings for all of them. */
export interface CampaignInput {
  readonly info: CampaignInfo;
  readonly ttlMs: number;
  readonly journal?: JournalSink;
  readonly analytics?: AnalyticsOptions;
  /** The shared bound on state, for a campaign that holds its state itself. */
  readonly budget?: StateBudget;
}

export type ChildSnapshot<S> = Snapshot<undefined> & {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly context: S;
};

/** A campaign actor as its registry holds it: it takes the campaign protocol's messages. */
export type ChildRef<S> = ActorRef<ChildSnapshot<S>, CampaignEvent>;

/**
 * The child protocol: what the registry needs of a campaign actor's logic, whichever keeps the
 * counts (campaign/ in memory, remote-campaign/ in a shared store). The registry is given one by
 * whoever composes the system and never looks inside a child's state `S`: it only holds it between
 * actors (a crashed actor's state goes to its successor, or is parked while the campaign is stopped)
 * and hands it back to these calls.
 */
export interface CampaignChild<S = unknown> {
  /** Makes and starts the actor of a campaign: new, or the successor of a crashed one from its state. */
  spawn(parent: AnyActorRef, id: string, input: CampaignInput, from?: S): ChildRef<S>;
  /** Whether a crash came while an impression was being applied (so `recover` rolls part of it back). */
  interrupted(state: S): boolean;
  /**
   * After a crash: undoes what the interrupted impression had changed, answers the message the actor
   * was processing (its unfinished items stay `unavailable`), and returns the item being applied.
   */
  recover(state: S): Impression | undefined;
  /** The figures of a campaign that has no actor now (stopped by its supervisor), from its state. */
  describe(state: S): CampaignDescription;
  /** An image of a parked state for a snapshot; undefined when the state lives elsewhere. */
  capture(state: S): CampaignImage | undefined;
  /** A state recovered from disk joins the registry: its journal and budget, accounted at once. */
  adopt(state: S, input: CampaignInput): void;
  /** A state replaced by a recovered one leaves the budget (its actor is about to stop). */
  release(state: S): void;
  /**
   * With a shared store: where the campaign records are kept. The registry delegates creating,
   * getting and listing campaigns to them, and finds an id it has not seen there before it makes an
   * actor for it. Absent: the registry holds every campaign itself.
   */
  readonly records?: CampaignRecords;
  /** Whether an idle actor can be dropped: its store says the campaign is gone and nothing is on its way. */
  retirable?(state: S): boolean;
}

/** The settings a campaign's state is rebuilt with from disk (its journal and budget join later, through `adopt`). */
export type ReplaySettings = Pick<CampaignInput, 'ttlMs' | 'analytics'>;

/**
 * How a campaign's state is rebuilt from disk (src/storage): from a snapshot's image or from its
 * creation, then each journaled fact after it in order, then `replayed`. Storage decodes the files
 * and holds the states without looking inside them; the in-memory campaign implements this, and the
 * states it makes join the registry as `campaign.restore`.
 */
export interface CampaignReplay<S> {
  /** The state an image holds (it takes ownership of the image's arrays). */
  restore(image: CampaignImage, settings: ReplaySettings): S;
  /** A `created` fact: a new campaign's state. */
  created(info: CampaignInfo, settings: ReplaySettings): S;
  /** A `counted` fact: the user counted on arrival at `at`, in the minute of `eventAt` (arrival when absent). */
  counted(state: S, at: number, user: Uint32Array, eventAt?: number): void;
  /** A `remembered` fact: an impression id first seen at `at`, with its outcome. */
  remembered(state: S, at: number, impressionId: Uint32Array, counted: boolean): void;
  adRegistered(state: S, ad: AdInfo): void;
  /**
   * A `tallied` fact: one message's impressions, 3 bytes each (the index into `ads`, 16 bits little
   * endian, then a TallyCode), and each one's time when some said one (else all are at `at`).
   */
  tallied(state: S, at: number, ads: readonly string[], items: Uint8Array, times: Float64Array | undefined): void;
  clicked(state: S, facts: readonly ClickFact[]): void;
  /** After the last record: drops what replaying needed. */
  replayed(state: S): void;
}

/**
 * What a snapshot of the whole system asks the registry (src/storage): its campaigns a page at a
 * time, and each one's image. The registry's own protocol includes these messages.
 */
export type SnapshotEvent =
  | { readonly type: 'campaign.list'; readonly after: number; readonly limit: number; readonly reply: Reply<CampaignPage | RecordsFailure> }
  | { readonly type: 'campaign.capture'; readonly id: string; readonly reply: Reply<CampaignImage | undefined> };
