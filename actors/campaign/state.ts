import type { CampaignAnalytics } from '../counting/analytics.js';
import { DEFAULT_ANALYTICS, type AnalyticsOptions } from '../counting/analytics-values.js';
import type { StateBudget } from '../counting/budget.js';
import { DedupeTable } from '../counting/dedupe.js';
import type { CampaignEvent, CampaignInfo, CampaignInput, ChildSnapshot, JournalSink } from '../protocol.js';

/**
 * One campaign's counting state, owned by exactly one campaign actor and mutated in place (copying
 * the dedupe table per event would cost milliseconds). `applying` is true only while an impression
 * is being committed: a crash that leaves it set may have recorded a user without counting it.
 * `inflight` is the message being processed and `current` the index of its item being applied, so
 * that a supervisor can answer the message and name the item after a crash.
 */
export interface CampaignState {
  readonly info: CampaignInfo;
  readonly dedupe: DedupeTable;
  total: number;
  /** Impression ids seen in the last day, by first outcome; created on first use. */
  idempotency: { readonly counted: DedupeTable; readonly duplicate: DedupeTable } | undefined;
  /** Ads, clicks and analytics buckets, with the minutes `last_hour` and `last_day` read; created on first use. */
  analytics: CampaignAnalytics | undefined;
  readonly analyticsOptions: AnalyticsOptions;
  /** Set by the registry that owns the actor (a state restored from disk gets it on restore). */
  journal: JournalSink | undefined;
  /** The shared bound on state; the bytes last added to it are `accounted`. Set like `journal`. */
  budget: StateBudget | undefined;
  accounted: number;
  /** Scratch space for digests (owned by this state, so never shared between actors). */
  readonly digest: Uint32Array;
  readonly idDigest: Uint32Array;
  /** The idempotency table the impression being applied was entered in, for rollback. */
  remembered: DedupeTable | undefined;
  applying: boolean;
  /** How far the impression being applied got: nothing, admitted to dedupe, or counted too. */
  stage: 'none' | 'admitted' | 'counted';
  inflight: CampaignEvent | undefined;
  current: number;
}

export type CampaignSnapshot = ChildSnapshot<CampaignState>;


export function newCampaignState({ info, ttlMs, journal, analytics, budget }: CampaignInput): CampaignState {
  return {
    info,
    dedupe: new DedupeTable(ttlMs),
    total: 0,
    idempotency: undefined,
    analytics: undefined,
    analyticsOptions: analytics ?? DEFAULT_ANALYTICS,
    journal,
    budget,
    accounted: 0,
    digest: new Uint32Array(4),
    idDigest: new Uint32Array(4),
    remembered: undefined,
    applying: false,
    stage: 'none',
    inflight: undefined,
    current: -1,
  };
}

