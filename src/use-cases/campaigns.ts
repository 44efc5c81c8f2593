import type { Refusal, StateBudget } from '../../actors/counting/budget.js';
import { recorded, type CampaignInfo, type RecordsFailure, type Stats } from '../../actors/protocol.js';
import type { CampaignPage, RegistryDescription, StatsResult } from '../../actors/registry/registry.js';
import { CampaignLimitError, CampaignNotFoundError, OverBudgetError, UnavailableError } from '../errors.js';
import type { RegistryClient } from '../registry-client.js';

/**
 * Campaigns one request that lists across campaigns (a search, every registered ad) looks at, at
 * most: where few match, the page is short (perhaps empty) and its cursor says where to go on, so
 * that no request's cost grows with the number of campaigns.
 */
export const CAMPAIGNS_PER_REQUEST = 10_000;

export interface NewCampaign {
  readonly name: string;
  readonly startTime?: number;
}

/** Campaigns: create, look up, list, their stats, and the live actor tree's figures. */
export class Campaigns {
  constructor(
    private readonly client: RegistryClient,
    /** The bound on state the registry enforces (memory mode), for the limits its errors name. */
    private readonly budget?: StateBudget,
  ) {}

  async create(campaign: NewCampaign): Promise<CampaignInfo> {
    const client = this.client;
    const now = client.now();
    const info: CampaignInfo = { id: client.newId(), name: campaign.name, startTime: campaign.startTime ?? now, createdAt: now };
    client.admit();
    const created = recorded(await client.ask<CampaignInfo | { refused: Refusal } | RecordsFailure>((reply) => ({ type: 'campaign.create', info, reply })));
    if ('refused' in created) {
      if (created.refused === 'campaigns') throw new CampaignLimitError(this.budget?.limits.maxCampaigns);
      throw new OverBudgetError('a new campaign');
    }
    await client.durable();
    return created;
  }

  async get(id: string): Promise<CampaignInfo> {
    const client = this.client;
    const info = recorded(await client.ask<CampaignInfo | undefined | RecordsFailure>((reply) => ({ type: 'campaign.get', id, reply })));
    if (info === undefined) throw new CampaignNotFoundError(id);
    return info;
  }

  /** One page of campaigns in creation order, starting after position `after`. */
  list(after: number, limit: number): Promise<CampaignPage> {
    return this.client.listCampaigns(after, limit);
  }

  /** Its counts read at `at` (default now). */
  async stats(id: string, at = this.client.now()): Promise<Stats> {
    const result = await this.client.ask<StatsResult>((reply) => ({ type: 'stats', id, at, reply }));
    if (!('error' in result)) return result;
    if (result.error === 'not_found') throw new CampaignNotFoundError(id);
    if (this.client.campaigns) throw new UnavailableError(this.client.unavailable(id, 'retry shortly'), result.retryAfterMs);
    throw new UnavailableError(`campaign ${JSON.stringify(id)} is restarting; retry shortly`, result.retryAfterMs);
  }

  /**
   * The live actor tree's figures (campaigns, restarts, dedupe keys), for metrics and the inspector:
   * totals, and the campaigns of one page (every campaign when no page is given).
   */
  describe(page: { readonly after?: number; readonly limit?: number } = {}): Promise<RegistryDescription> {
    return this.client.ask((reply) => ({ type: 'describe', after: page.after, limit: page.limit, reply }));
  }
}
