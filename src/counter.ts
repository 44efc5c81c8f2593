import { randomUUID } from 'node:crypto';
import { ask, AskTimeoutError } from '../actors/ask.js';
import type { Clock } from '../actors/counting/clock.js';
import { recorded, type CampaignInfo, type CampaignPage, type Impression, type Outcome, type RecordsFailure, type Stats } from '../actors/protocol.js';
import type { IngestResult, RegistryDescription, RegistryEvent, RegistryRef, StatsResult } from '../actors/registry/registry.js';
import type { Reply } from '../actors/protocol.js';
import type { Durability } from './durability.js';
import { AnalyticsFacade, type AnalyticsConfig } from './analytics.js';
import { CampaignLimitError, CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, OverBudgetError, UnavailableError } from './errors.js';
import type { Refusal, StateBudget } from '../actors/counting/budget.js';
import type { CampaignDirectory } from './storage/redis/directory.js';

export type { CampaignDirectory };

export interface CounterDeps {
  readonly registry: RegistryRef;
  readonly clock: Clock;
  readonly askTimeoutMs: number;
  readonly newId?: () => string;
  /** Absent when DURABILITY=off. */
  readonly durability?: Durability;
  /** STORE=redis: the campaign directory, whose refusal (when it has one) the unavailable errors name. */
  readonly campaigns?: CampaignDirectory;
  /** Click skew and retention for ads, clicks and analytics; defaults when absent. */
  readonly analytics?: AnalyticsConfig;
  /** The bound on state the registry enforces (memory mode), for the limits its errors name. */
  readonly budget?: StateBudget;
}

/** The outcomes that are an answer rather than an error (the same for impressions and clicks). */
export type Answered = 'counted' | 'duplicate' | 'replayed_counted' | 'replayed_duplicate' | 'bot_filtered';

export function isAnswered(outcome: string): outcome is Answered {
  return outcome === 'counted' || outcome === 'duplicate' || outcome === 'replayed_counted' || outcome === 'replayed_duplicate' || outcome === 'bot_filtered';
}

/** Impressions per registry message when a batch is larger (see `recordImpressions`). */
const INGEST_CHUNK = 1000;

export interface NewCampaign {
  readonly name: string;
  readonly startTime?: number;
}

/**
 * The façade between transport and actors: stamps time at the edge, sends tell/ask messages to the
 * registry, and turns replies into values or domain errors. Routes never see actor state.
 */
export class Counter {
  private readonly registry: RegistryRef;
  private readonly clock: Clock;
  private readonly timeout: number;
  private readonly newId: () => string;
  private readonly durability: Durability | undefined;
  private readonly campaigns: CampaignDirectory | undefined;
  private readonly budget: StateBudget | undefined;
  /** Ads, clicks, analytics and time series. */
  readonly analytics: AnalyticsFacade;

  constructor(deps: CounterDeps) {
    this.analytics = new AnalyticsFacade(deps);
    this.campaigns = deps.campaigns;
    this.budget = deps.budget;
    this.durability = deps.durability;
    this.registry = deps.registry;
    this.clock = deps.clock;
    this.timeout = deps.askTimeoutMs;
    this.newId = deps.newId ?? randomUUID;
  }

  async createCampaign(campaign: NewCampaign): Promise<CampaignInfo> {
    const now = this.clock.now();
    const info: CampaignInfo = { id: this.newId(), name: campaign.name, startTime: campaign.startTime ?? now, createdAt: now };
    this.admit();
    const created = recorded(await this.ask<CampaignInfo | { refused: Refusal } | RecordsFailure>((reply) => ({ type: 'campaign.create', info, reply })));
    if ('refused' in created) {
      if (created.refused === 'campaigns') throw new CampaignLimitError(this.budget?.limits.maxCampaigns);
      throw new OverBudgetError('a new campaign');
    }
    await this.durability?.durable();
    return created;
  }

  async getCampaign(id: string): Promise<CampaignInfo> {
    const info = recorded(await this.ask<CampaignInfo | undefined | RecordsFailure>((reply) => ({ type: 'campaign.get', id, reply })));
    if (info === undefined) throw new CampaignNotFoundError(id);
    return info;
  }

  /** One page of campaigns in creation order, starting after position `after`. */
  async listCampaigns(after: number, limit: number): Promise<{ campaigns: CampaignInfo[]; next?: number }> {
    return recorded(await this.ask<CampaignPage | RecordsFailure>((reply) => ({ type: 'campaign.list', after, limit, reply })));
  }

  /** Records one impression: true if counted, false if a duplicate; throws for anything else. */
  async recordImpression(impression: Impression): Promise<boolean> {
    const outcome = await this.recordImpressionOutcome(impression);
    return outcome === 'counted' || outcome === 'replayed_counted';
  }

  /** Records one impression: counted, a duplicate, a replay of either, or filtered as a bot; throws for anything else. */
  async recordImpressionOutcome(impression: Impression): Promise<Answered> {
    const { outcomes, retryAfterMs } = await this.recordImpressions([impression]);
    const outcome = outcomes[0];
    if (isAnswered(outcome)) return outcome;
    throw await this.outcomeError(outcome, impression.campaignId, retryAfterMs);
  }

  /**
   * Records a batch; one outcome per item, in order. With durability on, the answer waits until the
   * journal holds every fact it depends on (a duplicate may depend on a count not yet synced).
   */
  async recordImpressions(items: readonly Impression[]): Promise<IngestResult> {
    this.admit();
    let result: IngestResult;
    if (items.length <= INGEST_CHUNK) {
      const at = this.clock.now();
      result = await this.ask<IngestResult>((reply) => ({ type: 'impressions', at, items, reply }));
    } else {
      // A large batch goes to the registry in chunks with a turn of the event loop between them, so
      // that 10,000 impressions never hold the loop for more than a few milliseconds at a time.
      const outcomes: IngestResult['outcomes'] = [];
      let retryAfterMs = 0;
      for (let start = 0; start < items.length; start += INGEST_CHUNK) {
        if (start > 0) await new Promise((resolve) => setImmediate(resolve));
        const chunk = items.slice(start, start + INGEST_CHUNK);
        const at = this.clock.now();
        const part = await this.ask<IngestResult>((reply) => ({ type: 'impressions', at, items: chunk, reply }));
        for (const o of part.outcomes) outcomes.push(o);
        retryAfterMs = Math.max(retryAfterMs, part.retryAfterMs);
      }
      result = { outcomes, retryAfterMs };
    }
    await this.durability?.durable();
    return result;
  }

  /** Backpressure: refuse new work while the journal cannot take it. */
  private admit(): void {
    this.durability?.admit();
  }

  async stats(id: string): Promise<Stats> {
    const at = this.clock.now();
    const result = await this.ask<StatsResult>((reply) => ({ type: 'stats', id, at, reply }));
    if (!('error' in result)) return result;
    if (result.error === 'not_found') throw new CampaignNotFoundError(id);
    if (this.campaigns) throw new UnavailableError(`campaign ${JSON.stringify(id)} is unavailable: ${this.campaigns.refusal ?? 'its store did not answer'}; retry shortly`, result.retryAfterMs);
    throw new UnavailableError(`campaign ${JSON.stringify(id)} is restarting; retry shortly`, result.retryAfterMs);
  }

  /**
   * The live actor tree's figures (campaigns, restarts, dedupe keys), for metrics and the inspector:
   * totals, and the campaigns of one page (every campaign when no page is given).
   */
  async describe(page: { readonly after?: number; readonly limit?: number } = {}): Promise<RegistryDescription> {
    return this.ask((reply) => ({ type: 'describe', after: page.after, limit: page.limit, reply }));
  }

  /** The error a non-counting outcome stands for, with the same message for single and batch items. */
  async outcomeError(outcome: Exclude<Outcome, Answered>, campaignId: string, retryAfterMs: number): Promise<Error> {
    switch (outcome) {
      case 'not_found':
        return new CampaignNotFoundError(campaignId);
      case 'not_started':
        return new CampaignNotStartedError(campaignId, (await this.getCampaign(campaignId)).startTime);
      case 'unavailable':
        // With a shared store the script may still have run; a retry is safe either way (it cannot count twice).
        if (this.campaigns) return new UnavailableError(`campaign ${JSON.stringify(campaignId)} is unavailable: ${this.campaigns.refusal ?? 'its store did not answer'}; retrying is safe`, retryAfterMs);
        return new UnavailableError(`campaign ${JSON.stringify(campaignId)} is restarting; the impression was not counted, retry shortly`, retryAfterMs);
      case 'dead_letter':
        return new DeadLetterError(campaignId);
      case 'over_budget':
        return new OverBudgetError(`an impression of a new user or ad in campaign ${JSON.stringify(campaignId)}`);
    }
  }

  private async ask<T>(build: (reply: Reply<T>) => RegistryEvent): Promise<T> {
    try {
      return await ask(this.registry, build, this.timeout);
    } catch (err) {
      if (err instanceof AskTimeoutError) throw new UnavailableError('the counter did not answer in time; retry shortly', 1000);
      throw err;
    }
  }
}
