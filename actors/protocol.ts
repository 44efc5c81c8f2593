import type { AnalyticsEvent, AnalyticsJournal } from './analytics-protocol.js';
import type { Reply } from './ask.js';
import type { AnalyticsImage } from './counting/analytics.js';
import type { DedupeImage } from './counting/dedupe.js';
import type { WindowsImage } from './counting/windows.js';

/**
 * Messages the registry and campaign actors exchange, and the values they reply with. Both actor
 * files import this one so neither imports the other.
 */

export { IDEMPOTENCY_TTL_MS } from './counting/dedupe.js';

export type { Reply } from './ask.js';

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
  // `not_found` comes only from a campaign kept in a shared store (actors/remote-campaign.ts).
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
