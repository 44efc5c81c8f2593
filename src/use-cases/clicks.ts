import type { Click, ClickOutcome } from '../../actors/analytics-protocol.js';
import type { RegistryClient } from '../registry-client.js';
import type { Campaigns } from './campaigns.js';
import { refusal, type Answered, type ItemWords } from './outcomes.js';
import { AnalyticsUnsupportedError, DEFAULT_ANALYTICS_CONFIG, type AnalyticsConfig } from './analytics.js';

/** Clicks: the time each is counted at, and recording them. */
export class Clicks {
  constructor(
    private readonly client: RegistryClient,
    private readonly campaigns: Campaigns,
    private readonly config: AnalyticsConfig = DEFAULT_ANALYTICS_CONFIG,
  ) {}

  now(): number {
    return this.client.now();
  }

  /**
   * The time a click (or a timestamped impression) is counted at: its timestamp when within
   * CLICK_MAX_SKEW of now (a future one is taken as now), otherwise a ValidationError message.
   */
  clickTime(timestamp: number | undefined, now: number): number | string {
    if (timestamp === undefined) return now;
    const skew = this.config.clickMaxSkewMs;
    if (Math.abs(timestamp - now) > skew) {
      return `field "timestamp" is ${timestamp < now ? 'older' : 'later'} than the allowed skew of ${skew / 1000} s from the server's clock (CLICK_MAX_SKEW)`;
    }
    return Math.min(timestamp, now);
  }

  /** Records clicks (grouped so each campaign gets one message); one outcome per item, in order. */
  async record(items: readonly Click[], now: number): Promise<{ outcomes: ClickOutcome[]; retryAfterMs: number }> {
    this.client.admit();
    const groups = new Map<string, number[]>();
    items.forEach((c, i) => {
      const g = groups.get(c.campaignId);
      if (g === undefined) groups.set(c.campaignId, [i]);
      else g.push(i);
    });
    const outcomes = new Array<ClickOutcome>(items.length).fill('unavailable');
    let retryAfterMs = 0;
    await Promise.all(
      [...groups].map(async ([campaignId, indices]) => {
        const group = indices.map((i) => items[i]);
        const result = await this.client.forward(campaignId, now, (reply) => ({ type: 'clicks', now, items: group, out: new Array<ClickOutcome>(group.length).fill('unavailable'), reply }));
        if ('value' in result) (result.value as ClickOutcome[]).forEach((o, k) => (outcomes[indices[k]] = o));
        else if (result.error === 'not_found') for (const i of indices) outcomes[i] = 'not_found';
        else if (result.error === 'unsupported') throw new AnalyticsUnsupportedError();
        else retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
      }),
    );
    await this.client.durable();
    return { outcomes, retryAfterMs };
  }

  /** The error a refused click answers (single, batch item or signed beacon). */
  outcomeError(outcome: Exclude<ClickOutcome, Answered>, campaignId: string, retryAfterMs: number): Promise<Error> {
    return refusal(this.client, this.campaigns, CLICK, outcome, campaignId, retryAfterMs);
  }
}

const CLICK: ItemWords = { noun: 'click', newItem: (campaign) => `a click on a new ad in campaign ${campaign}`, namesStore: false };
