import type { Context } from 'koa';
import type { Click, ClickOutcome } from '../../actors/analytics-protocol.js';
import { isAnswered, type Answered, type Counter } from '../counter.js';
import { CampaignNotFoundError, UnavailableError, ValidationError } from '../errors.js';
import { NO_OUTCOMES, type OutcomeRecorder } from '../metrics.js';
import { answerBatch, batchSummary, checkBatchSize, type BatchKind, type ItemResult } from './batch.js';
import { isReplayOutcome, REPLAYED_HEADER } from './impressions.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { analyticsValidators as v } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

/** A single click's answer (click beacons report the same outcomes). */
export type ClickAnswer = { readonly message: string; readonly counted: boolean; readonly duplicate?: true; readonly bot_filtered?: true; readonly replayed?: true };

export const CLICK_ANSWERS: Readonly<Record<Answered, ClickAnswer>> = {
  counted: { message: 'click counted', counted: true },
  duplicate: { message: 'repeated click of the same user or IP on this ad within CLICK_DEDUP_TTL; not counted', counted: false, duplicate: true },
  bot_filtered: { message: 'click from a bot user agent; not counted', counted: false, bot_filtered: true },
  replayed_counted: { message: 'retry of a click_id already recorded: it was counted the first time; not counted again', counted: true, replayed: true },
  replayed_duplicate: { message: 'retry of a click_id already recorded: it was a duplicate the first time; not counted', counted: false, duplicate: true, replayed: true },
};

const ITEMS: Record<Answered, ItemResult> = {
  counted: { counted: true },
  duplicate: { counted: false, duplicate: true },
  bot_filtered: { counted: false, bot_filtered: true },
  replayed_counted: { counted: true, replayed: true },
  replayed_duplicate: { counted: false, duplicate: true, replayed: true },
};

/** POST /clicks: one click object, or a JSON array of them answered item by item (like impressions). */
export function clickHandlers(counter: Counter, batchLimit: number, bots: BotFilter = BOTS_ON, tally: OutcomeRecorder = NO_OUTCOMES) {
  const clicks = counter.clicks;
  const batch: Omit<BatchKind<Click, ClickOutcome>, 'record'> = {
    noun: 'clicks',
    settled: ITEMS,
    failure: (outcome, click, retryAfterMs) => counter.clicks.outcomeError(outcome, click.campaignId, retryAfterMs),
    campaignOf: (click) => click.campaignId,
  };
  return {
    async record(ctx: Context): Promise<void> {
      const body: unknown = ctx.request.body;
      const isBot = bots.forRequest(ctx.get('User-Agent') || undefined);
      const now = clicks.now();
      const parse = (value: unknown): Click | ValidationError => toClick(value, now, isBot, counter);
      if (!Array.isArray(body)) {
        const click = parse(body);
        if (click instanceof ValidationError) {
          tally.add('invalid');
          throw click;
        }
        const { outcomes, retryAfterMs } = await recorded(tally, 1, clicks.record([click], now));
        const outcome = outcomes[0];
        tally.add(outcome);
        if (isAnswered(outcome)) {
          if (isReplayOutcome(outcome)) ctx.set(REPLAYED_HEADER, 'true');
          ctx.body = CLICK_ANSWERS[outcome];
          return;
        }
        throw await counter.clicks.outcomeError(outcome, click.campaignId, retryAfterMs);
      }
      checkBatchSize(body, batchLimit, batch.noun);
      const parseTallied = (value: unknown): Click | ValidationError => {
        const click = parse(value);
        if (click instanceof ValidationError) tally.add('invalid');
        return click;
      };
      const answer = await answerBatch(body, parseTallied, { ...batch, record: (items) => recorded(tally, items.length, clicks.record(items, now)) });
      const { counts, refused } = answer;
      for (const outcome of refused) tally.add(outcome);
      for (const outcome of ['counted', 'duplicate', 'bot_filtered', 'replayed_counted', 'replayed_duplicate'] as const) tally.add(outcome, counts[outcome]);
      ctx.body = { results: answer.results, ...batchSummary(answer) };
    },
  };
}

function toClick(value: unknown, now: number, isBot: BotJudge, counter: Counter): Click | ValidationError {
  const illFormed = illFormedPath(value, 2);
  if (illFormed !== undefined) return loneSurrogate(illFormed, 'click');
  if (!v.click(value)) return new ValidationError(describe(v.click.errors?.[0], 'click'));
  const at = counter.clicks.clickTime(value.timestamp == null ? undefined : Date.parse(value.timestamp), now);
  if (typeof at === 'string') return new ValidationError(at);
  return {
    campaignId: value.campaign_id,
    adId: value.ad_id,
    userId: value.user_id ?? undefined,
    ipAddress: value.ip_address ?? undefined,
    playbackTime: value.playback_time ?? undefined,
    at,
    bot: isBot(value.user_agent ?? undefined),
    clickId: value.click_id ?? undefined,
  };
}

/** Counts the clicks of a call the use case refused as a whole (a journal backlog, an ask timeout) by reason. */
async function recorded<T>(tally: OutcomeRecorder, n: number, answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (err) {
    tally.add(err instanceof UnavailableError ? 'unavailable' : err instanceof CampaignNotFoundError ? 'not_found' : 'error', n);
    throw err;
  }
}
