import type { Outcome } from '../../actors/protocol.js';
import { CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, OverBudgetError, UnavailableError } from '../errors.js';
import type { RegistryClient } from '../registry-client.js';
import type { Campaigns } from './campaigns.js';

/** The outcomes that are an answer rather than an error (the same for impressions and clicks). */
export type Answered = 'counted' | 'duplicate' | 'replayed_counted' | 'replayed_duplicate' | 'bot_filtered';

export function isAnswered(outcome: string): outcome is Answered {
  return outcome === 'counted' || outcome === 'duplicate' || outcome === 'replayed_counted' || outcome === 'replayed_duplicate' || outcome === 'bot_filtered';
}

/** How the refusals of one kind of item are worded. */
export interface ItemWords {
  /** `impression`, `click`. */
  readonly noun: string;
  /** What an over-budget refusal could not make room for, given the campaign's id in JSON. */
  readonly newItem: (campaign: string) => string;
  /** Whether a shared store's refusal is named (and a retry called safe: it cannot count twice). */
  readonly namesStore: boolean;
}

/**
 * The error a refused item answers, the same for a single item and a batch item, for impressions and
 * clicks (and signed click beacons) alike.
 */
export async function refusal(client: RegistryClient, campaigns: Campaigns, words: ItemWords, outcome: Exclude<Outcome, Answered>, campaignId: string, retryAfterMs: number): Promise<Error> {
  const campaign = JSON.stringify(campaignId);
  switch (outcome) {
    case 'not_found':
      return new CampaignNotFoundError(campaignId);
    case 'not_started':
      return new CampaignNotStartedError(campaignId, (await campaigns.get(campaignId)).startTime);
    case 'unavailable':
      // With a shared store the script may still have run; a retry is safe either way.
      if (words.namesStore && client.campaigns) return new UnavailableError(client.unavailable(campaignId, 'retrying is safe'), retryAfterMs);
      return new UnavailableError(`campaign ${campaign} is restarting; the ${words.noun} was not counted, retry shortly`, retryAfterMs);
    case 'dead_letter':
      return new DeadLetterError(campaignId);
    case 'over_budget':
      return new OverBudgetError(words.newItem(campaign));
  }
}
