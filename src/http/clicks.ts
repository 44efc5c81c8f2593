import type { Context } from 'koa';
import type { Click, ClickOutcome } from '../../actors/analytics-protocol.js';
import type { Counter } from '../counter.js';
import { CampaignNotFoundError, CampaignNotStartedError, OverBudgetError, UnavailableError, ValidationError } from '../errors.js';
import { answerBatch, checkBatchSize, type BatchKind, type ItemResult } from './batch.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { analyticsValidators as v } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

const MESSAGES: Record<'counted' | 'duplicate' | 'bot_filtered', { message: string; counted: boolean; duplicate?: true; bot_filtered?: true }> = {
  counted: { message: 'click counted', counted: true },
  duplicate: { message: 'repeated click of the same user or IP on this ad within CLICK_DEDUP_TTL; not counted', counted: false, duplicate: true },
  bot_filtered: { message: 'click from a bot user agent; not counted', counted: false, bot_filtered: true },
};

const ITEMS: Record<'counted' | 'duplicate' | 'bot_filtered', ItemResult> = {
  counted: { counted: true },
  duplicate: { counted: false, duplicate: true },
  bot_filtered: { counted: false, bot_filtered: true },
};

/** POST /clicks: one click object, or a JSON array of them answered item by item (like impressions). */
export function clickHandlers(counter: Counter, batchLimit: number, bots: BotFilter = BOTS_ON) {
  const analytics = counter.analytics;
  const batch: Omit<BatchKind<Click, ClickOutcome>, 'record'> = {
    noun: 'clicks',
    settled: ITEMS,
    failure: (outcome, click, retryAfterMs) => clickFailure(counter, outcome, click.campaignId, retryAfterMs),
    campaignOf: (click) => click.campaignId,
  };
  return {
    async record(ctx: Context): Promise<void> {
      const body: unknown = ctx.request.body;
      const isBot = bots.forRequest(ctx.get('User-Agent') || undefined);
      const now = analytics.now();
      const parse = (value: unknown): Click | ValidationError => toClick(value, now, isBot, counter);
      if (!Array.isArray(body)) {
        const click = parse(body);
        if (click instanceof ValidationError) throw click;
        const { outcomes, retryAfterMs } = await analytics.recordClicks([click], now);
        const outcome = outcomes[0];
        if (outcome === 'counted' || outcome === 'duplicate' || outcome === 'bot_filtered') {
          ctx.body = MESSAGES[outcome];
          return;
        }
        throw await clickFailure(counter, outcome, click.campaignId, retryAfterMs);
      }
      checkBatchSize(body, batchLimit, batch.noun);
      const { results, counts, rejected } = await answerBatch(body, parse, { ...batch, record: (items) => analytics.recordClicks(items, now) });
      ctx.body = { results, counted: counts.counted, duplicates: counts.duplicate, bot_filtered: counts.bot_filtered, rejected };
    },
  };
}

function toClick(value: unknown, now: number, isBot: BotJudge, counter: Counter): Click | ValidationError {
  const illFormed = illFormedPath(value, 2);
  if (illFormed !== undefined) return loneSurrogate(illFormed, 'click');
  if (!v.click(value)) return new ValidationError(describe(v.click.errors?.[0], 'click'));
  const at = counter.analytics.clickTime(value.timestamp == null ? undefined : Date.parse(value.timestamp), now);
  if (typeof at === 'string') return new ValidationError(at);
  return {
    campaignId: value.campaign_id,
    adId: value.ad_id,
    userId: value.user_id ?? undefined,
    ipAddress: value.ip_address ?? undefined,
    playbackTime: value.playback_time ?? undefined,
    at,
    bot: isBot(value.user_agent ?? undefined),
  };
}

/** The error a refused click answers (shared with signed click beacons). */
export async function clickFailure(counter: Counter, outcome: Exclude<ClickOutcome, 'counted' | 'duplicate' | 'bot_filtered'>, campaignId: string, retryAfterMs: number): Promise<Error> {
  switch (outcome) {
    case 'not_found':
      return new CampaignNotFoundError(campaignId);
    case 'not_started':
      return new CampaignNotStartedError(campaignId, (await counter.getCampaign(campaignId)).startTime);
    case 'unavailable':
      return new UnavailableError(`campaign ${JSON.stringify(campaignId)} is restarting; the click was not counted, retry shortly`, retryAfterMs);
    case 'over_budget':
      return new OverBudgetError(`a click on a new ad in campaign ${JSON.stringify(campaignId)}`);
  }
}

