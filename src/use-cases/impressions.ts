import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { IngestResult } from '../../actors/registry/registry.js';
import type { RegistryClient } from '../registry-client.js';
import { isAnswered, refusal, type Answered, type ItemWords } from './outcomes.js';
import type { Campaigns } from './campaigns.js';

/** Impressions per registry message when a batch is larger (see `recordMany`). */
const INGEST_CHUNK = 1000;

/** Impressions: recorded one at a time or in batches, and the errors their outcomes stand for. */
export class Impressions {
  constructor(
    private readonly client: RegistryClient,
    private readonly campaigns: Campaigns,
  ) {}

  /** Records one impression: true if counted, false if a duplicate; throws for anything else. */
  async record(impression: Impression): Promise<boolean> {
    const outcome = await this.recordOutcome(impression);
    return outcome === 'counted' || outcome === 'replayed_counted';
  }

  /** Records one impression: counted, a duplicate, a replay of either, or filtered as a bot; throws for anything else. */
  async recordOutcome(impression: Impression): Promise<Answered> {
    const { outcomes, retryAfterMs } = await this.recordMany([impression]);
    const outcome = outcomes[0];
    if (isAnswered(outcome)) return outcome;
    throw await this.outcomeError(outcome, impression.campaignId, retryAfterMs);
  }

  /**
   * Records a batch; one outcome per item, in order. With durability on, the answer waits until the
   * journal holds every fact it depends on (a duplicate may depend on a count not yet synced).
   */
  async recordMany(items: readonly Impression[]): Promise<IngestResult> {
    const client = this.client;
    client.admit();
    let result: IngestResult;
    if (items.length <= INGEST_CHUNK) {
      const at = client.now();
      result = await client.ask<IngestResult>((reply) => ({ type: 'impressions', at, items, reply }));
    } else {
      // A large batch goes to the registry in chunks with a turn of the event loop between them, so
      // that 10,000 impressions never hold the loop for more than a few milliseconds at a time.
      const outcomes: IngestResult['outcomes'] = [];
      let retryAfterMs = 0;
      for (let start = 0; start < items.length; start += INGEST_CHUNK) {
        if (start > 0) await nextTurn();
        const chunk = items.slice(start, start + INGEST_CHUNK);
        const at = client.now();
        const part = await client.ask<IngestResult>((reply) => ({ type: 'impressions', at, items: chunk, reply }));
        for (const o of part.outcomes) outcomes.push(o);
        retryAfterMs = Math.max(retryAfterMs, part.retryAfterMs);
      }
      result = { outcomes, retryAfterMs };
    }
    await client.durable();
    return result;
  }

  /** The error a non-counting outcome stands for, with the same message for single and batch items. */
  outcomeError(outcome: Exclude<Outcome, Answered>, campaignId: string, retryAfterMs: number): Promise<Error> {
    return refusal(this.client, this.campaigns, IMPRESSION, outcome, campaignId, retryAfterMs);
  }
}

const IMPRESSION: ItemWords = { noun: 'impression', newItem: (campaign) => `an impression of a new user or ad in campaign ${campaign}`, namesStore: true };
