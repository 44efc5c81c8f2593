import { randomUUID } from 'node:crypto';
import { ask, AskTimeoutError } from '../actors/ask.js';
import type { AnalyticsEvent } from '../actors/analytics-protocol.js';
import type { Clock } from '../actors/counting/clock.js';
import { recorded, type RecordsFailure, type Reply } from '../actors/protocol.js';
import type { CampaignPage, ForwardResult, RegistryEvent, RegistryRef } from '../actors/registry/registry.js';
import type { Durability } from './durability.js';
import { UnavailableError } from './errors.js';
import type { CampaignDirectory } from './storage/redis/directory.js';

export interface RegistryClientDeps {
  readonly registry: RegistryRef;
  readonly clock: Clock;
  readonly askTimeoutMs: number;
  readonly newId?: () => string;
  /** Absent when DURABILITY=off. */
  readonly durability?: Durability;
  /** STORE=redis: the campaign directory, whose refusal (when it has one) the unavailable errors name. */
  readonly campaigns?: CampaignDirectory;
}

/**
 * How the use cases talk to the registry: time stamped at the edge, asks with a deadline (a stopped
 * actor never answers), backpressure from the journal before a write, and the wait for durability
 * after one.
 */
export class RegistryClient {
  readonly clock: Clock;
  readonly newId: () => string;
  /** STORE=redis: the campaign directory (records go through the registry; its refusal names 503s). */
  readonly campaigns: CampaignDirectory | undefined;
  private readonly registry: RegistryRef;
  private readonly timeout: number;
  private readonly durability: Durability | undefined;

  constructor(deps: RegistryClientDeps) {
    this.registry = deps.registry;
    this.clock = deps.clock;
    this.timeout = deps.askTimeoutMs;
    this.newId = deps.newId ?? randomUUID;
    this.durability = deps.durability;
    this.campaigns = deps.campaigns;
  }

  now(): number {
    return this.clock.now();
  }

  /** Backpressure: throws while the journal cannot take new writes. */
  admit(): void {
    this.durability?.admit();
  }

  /** Resolves once everything recorded so far is durable (at once when DURABILITY=off). */
  async durable(): Promise<void> {
    await this.durability?.durable();
  }

  /** One request/reply with the registry; a 503 when no reply comes within ASK_TIMEOUT. */
  async ask<T>(build: (reply: Reply<T>) => RegistryEvent): Promise<T> {
    try {
      return await ask(this.registry, build, this.timeout);
    } catch (err) {
      if (err instanceof AskTimeoutError) throw new UnavailableError('the counter did not answer in time; retry shortly', 1000);
      throw err;
    }
  }

  /** A message for one campaign actor, through the registry. */
  forward(id: string, at: number, message: (reply: Reply<any>) => AnalyticsEvent): Promise<ForwardResult> {
    return this.ask<ForwardResult>((reply) => ({ type: 'campaign.forward', id, at, message, reply }));
  }

  /** One page of campaigns in creation order, starting after position `after`. */
  async listCampaigns(after: number, limit: number): Promise<CampaignPage> {
    return recorded(await this.ask<CampaignPage | RecordsFailure>((reply) => ({ type: 'campaign.list', after, limit, reply })));
  }

  /** Why the shared store cannot answer, for the messages of a 503. */
  unavailable(campaignId: string, then: string): string {
    return `campaign ${JSON.stringify(campaignId)} is unavailable: ${this.campaigns?.refusal ?? 'its store did not answer'}; ${then}`;
  }
}
