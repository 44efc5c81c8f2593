import type { Context } from 'koa';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { Counter } from '../counter.js';
import { CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, OverBudgetError, UnavailableError, ValidationError } from '../errors.js';
import { NO_OUTCOMES, type ImpressionOutcome, type OutcomeRecorder } from '../metrics.js';
import { answerBatch, checkBatchSize, type BatchKind, type ItemResult } from './batch.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { validators } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

const COUNTED = { message: 'impression counted', counted: true } as const;
const DUPLICATE = { message: 'duplicate impression within the dedupe window; not counted', counted: false } as const;
const BOT = { message: 'impression from a bot user agent; not counted', counted: false, bot_filtered: true } as const;

/** The single-impression answers, serialized once (the fast lane sends these bytes as they are). */
export const SERIALIZED: ReadonlyMap<object, string> = new Map([COUNTED, DUPLICATE, BOT].map((a) => [a, JSON.stringify(a)]));

/** Answers a POST /impressions body: the same function serves the Koa route and the fast lane. */
export type ImpressionAnswerer = (body: unknown, userAgent: string | undefined) => Promise<object>;

export function impressionAnswerer(counter: Counter, batchLimit: number, outcomes: OutcomeRecorder = NO_OUTCOMES, bots: BotFilter = BOTS_ON): ImpressionAnswerer {
  const batch = impressionBatch(counter, outcomes);
  return async (body, agent) => {
    const isBot = bots.forRequest(agent);
    if (!Array.isArray(body)) {
      const item = toImpression(body, isBot);
      if (item instanceof ValidationError) {
        outcomes.add('invalid');
        throw item;
      }
      let outcome: 'counted' | 'duplicate' | 'bot_filtered';
      try {
        outcome = await counter.recordImpressionOutcome(item);
      } catch (err) {
        outcomes.add(rejection(err));
        throw err;
      }
      outcomes.add(outcome);
      return outcome === 'counted' ? COUNTED : outcome === 'duplicate' ? DUPLICATE : BOT;
    }
    checkBatchSize(body, batchLimit, batch.noun);
    return recordBatch(body, batch, outcomes, (v) => toImpression(v, isBot));
  };
}

export function impressionHandlers(answer: ImpressionAnswerer) {
  return {
    /** One impression object, or an array of them (a batch answered item by item). */
    async record(ctx: Context): Promise<void> {
      ctx.body = await answer(ctx.request.body, ctx.get('User-Agent') || undefined);
    },
  };
}

/** How impressions are recorded and refused item by item in a batch. */
function impressionBatch(counter: Counter, tally: OutcomeRecorder): BatchKind<Impression, Outcome> {
  return {
    noun: 'impressions',
    settled: { counted: COUNTED_ITEM, duplicate: DUPLICATE_ITEM, bot_filtered: BOT_ITEM },
    async record(items) {
      try {
        return await counter.recordImpressions(items);
      } catch (err) {
        tally.add(rejection(err), items.length);
        throw err;
      }
    },
    failure: (outcome, item, retryAfterMs) => counter.outcomeError(outcome, item.campaignId, retryAfterMs),
    campaignOf: (item) => item.campaignId,
  };
}

async function recordBatch(body: unknown[], kind: BatchKind<Impression, Outcome>, tally: OutcomeRecorder, parse: (value: unknown) => Impression | ValidationError) {
  const parseTallied = (value: unknown): Impression | ValidationError => {
    const item = parse(value);
    if (item instanceof ValidationError) tally.add('invalid');
    return item;
  };
  const { results, counts, refused, rejected } = await answerBatch(body, parseTallied, kind);
  for (const outcome of refused) tally.add(outcome);
  tally.add('counted', counts.counted);
  tally.add('duplicate', counts.duplicate);
  tally.add('bot_filtered', counts.bot_filtered);
  // `bot_filtered` appears only when some were, so the answer keeps its shape where bots are not an issue.
  return { results, counted: counts.counted, duplicates: counts.duplicate, ...(counts.bot_filtered > 0 && { bot_filtered: counts.bot_filtered }), rejected };
}

/** The metrics reason of an impression the façade refused with an error. */
function rejection(err: unknown): ImpressionOutcome {
  if (err instanceof CampaignNotFoundError) return 'not_found';
  if (err instanceof CampaignNotStartedError) return 'not_started';
  if (err instanceof UnavailableError) return 'unavailable';
  if (err instanceof DeadLetterError) return 'dead_letter';
  if (err instanceof OverBudgetError) return 'over_budget';
  return 'error';
}

// Shared, never mutated: a batch answer of 10,000 items allocates no object per counted item.
const COUNTED_ITEM: ItemResult = Object.freeze({ counted: true });
const DUPLICATE_ITEM: ItemResult = Object.freeze({ counted: false });
const BOT_ITEM: ItemResult = Object.freeze({ counted: false, bot_filtered: true });

function toImpression(value: unknown, isBot: BotJudge): Impression | ValidationError {
  const illFormed = illFormedPath(value, 2);
  if (illFormed !== undefined) return loneSurrogate(illFormed, 'impression');
  if (!validators.impression(value)) return new ValidationError(describe(validators.impression.errors?.[0], 'impression'));
  const item: Impression = { campaignId: value.campaign_id, userId: value.user_id, adId: value.ad_id, impressionId: value.impression_id ?? undefined };
  return isBot(value.user_agent ?? undefined) ? { ...item, bot: true } : item;
}

