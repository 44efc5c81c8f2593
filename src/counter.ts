import type { AnalyticsConfig } from './use-cases/analytics.js';
import type { StateBudget } from '../actors/counting/budget.js';
import { RegistryClient, type RegistryClientDeps } from './registry-client.js';
import { Analytics } from './use-cases/analytics.js';
import { Campaigns } from './use-cases/campaigns.js';
import { Clicks } from './use-cases/clicks.js';
import { Impressions } from './use-cases/impressions.js';
import type { CampaignDirectory } from './storage/redis/directory.js';

export type { CampaignDirectory };
export { isAnswered, type Answered } from './use-cases/outcomes.js';
export type { NewCampaign } from './use-cases/campaigns.js';

export interface CounterDeps extends RegistryClientDeps {
  /** Click skew and retention for ads, clicks and analytics; defaults when absent. */
  readonly analytics?: AnalyticsConfig;
  /** The bound on state the registry enforces (memory mode), for the limits its errors name. */
  readonly budget?: StateBudget;
}

/**
 * What transport sees of the counting system: the use cases, each a thin module over one registry
 * client that stamps time, asks with a deadline and waits for durability. Routes never see actor state.
 */
export class Counter {
  readonly campaigns: Campaigns;
  readonly impressions: Impressions;
  readonly clicks: Clicks;
  readonly analytics: Analytics;

  constructor(deps: CounterDeps) {
    const client = new RegistryClient(deps);
    this.campaigns = new Campaigns(client, deps.budget);
    this.impressions = new Impressions(client, this.campaigns);
    this.clicks = new Clicks(client, this.campaigns, deps.analytics);
    this.analytics = new Analytics(client, deps.analytics);
  }
}
