import type { Context } from 'koa';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { Answered, Counter } from '../counter.js';
import { CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, OverBudgetError, UnavailableError, ValidationError } from '../errors.js';
import { NO_OUTCOMES, type ImpressionOutcome, type OutcomeRecorder } from '../metrics.js';
import { answerBatch, batchSummary, checkBatchSize, type BatchKind, type ItemResult } from './batch.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { validators } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

const COUNTED = { message: 'impression counted', counted: true } as const;
const DUPLICATE = { message: 'duplicate impression within the dedupe window; not counted', counted: false, duplicate: true } as const;
const BOT = { message: 'impression from a bot user agent; not counted', counted: false, bot_filtered: true } as const;
const REPLAYED_COUNTED = { message: 'retry of an impression_id already recorded: it was counted the first time; not counted again', counted: true, replayed: true } as const;
const REPLAYED_DUPLICATE = { message: 'retry of an impression_id already recorded: it was a duplicate the first time; not counted', counted: false, duplicate: true, replayed: true } as const;

/** The single-impression answer of each outcome (impression beacons report the same outcomes). */
export const ANSWERS = { counted: COUNTED, duplicate: DUPLICATE, bot_filtered: BOT, replayed_counted: REPLAYED_COUNTED, replayed_duplicate: REPLAYED_DUPLICATE } as const;

/** The single-impression answers, serialized once (the fast lane sends these bytes as they are). */
export const SERIALIZED: ReadonlyMap<object, string> = new Map(Object.values(ANSWERS).map((a) => [a, JSON.stringify(a)]));

/** The header a single answer that replays an earlier outcome carries (the fast lane, Koa and beacons alike). */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Whether an outcome replays an earlier one (a retry of a known impression_id or click_id). */
export function isReplayOutcome(outcome: string): outcome is 'replayed_counted' | 'replayed_duplicate' {
  return outcome === 'replayed_counted' || outcome === 'replayed_duplicate';
}

/** Whether a single answer replays an earlier outcome (it then carries `Idempotent-Replayed: true`). */
export function isReplay(answer: object): boolean {
  return answer === REPLAYED_COUNTED || answer === REPLAYED_DUPLICATE;
}

/** Answers a POST /impressions body: the same function serves the Koa route and the fast lane. */
export type ImpressionAnswerer = (body: unknown, userAgent: string | undefined) => Promise<object>;

export function impressionAnswerer(counter: Counter, batchLimit: number, outcomes: OutcomeRecorder = NO_OUTCOMES, bots: BotFilter = BOTS_ON): ImpressionAnswerer {
  const batch = impressionBatch(counter, outcomes);
  return async (body, agent) => {
    const isBot = bots.forRequest(agent);
    const now = counter.analytics.now();
    // An impression's own timestamp is held to the same skew as a click's.
    const eventTime = (timestamp: string | null | undefined): number | string | undefined =>
      timestamp == null ? undefined : counter.clicks.clickTime(Date.parse(timestamp), now);
    if (!Array.isArray(body)) {
      const item = toImpression(body, isBot, eventTime);
      if (item instanceof ValidationError) {
        outcomes.add('invalid');
        throw item;
      }
      let outcome: Answered;
      try {
        outcome = await counter.impressions.recordOutcome(item);
      } catch (err) {
        outcomes.add(rejection(err));
        throw err;
      }
      outcomes.add(outcome);
      return ANSWERS[outcome];
    }
    checkBatchSize(body, batchLimit, batch.noun);
    return recordBatch(body, batch, outcomes, (v) => toImpression(v, isBot, eventTime));
  };
}

export function impressionHandlers(answer: ImpressionAnswerer) {
  return {
    /** One impression object, or an array of them (a batch answered item by item). */
    async record(ctx: Context): Promise<void> {
      const body = await answer(ctx.request.body, ctx.get('User-Agent') || undefined);
      if (isReplay(body)) ctx.set(REPLAYED_HEADER, 'true');
      ctx.body = body;
    },
  };
}

/** How impressions are recorded and refused item by item in a batch. */
function impressionBatch(counter: Counter, tally: OutcomeRecorder): BatchKind<Impression, Outcome> {
  return {
    noun: 'impressions',
    settled: { counted: COUNTED_ITEM, duplicate: DUPLICATE_ITEM, bot_filtered: BOT_ITEM, replayed_counted: REPLAYED_COUNTED_ITEM, replayed_duplicate: REPLAYED_DUPLICATE_ITEM },
    async record(items) {
      try {
        return await counter.impressions.recordMany(items);
      } catch (err) {
        tally.add(rejection(err), items.length);
        throw err;
      }
    },
    failure: (outcome, item, retryAfterMs) => counter.impressions.outcomeError(outcome, item.campaignId, retryAfterMs),
    campaignOf: (item) => item.campaignId,
  };
}

async function recordBatch(body: unknown[], kind: BatchKind<Impression, Outcome>, tally: OutcomeRecorder, parse: (value: unknown) => Impression | ValidationError) {
  const parseTallied = (value: unknown): Impression | ValidationError => {
    const item = parse(value);
    if (item instanceof ValidationError) tally.add('invalid');
    return item;
  };
  const answer = await answerBatch(body, parseTallied, kind);
  const { counts, refused } = answer;
  for (const outcome of refused) tally.add(outcome);
  for (const outcome of ['counted', 'duplicate', 'bot_filtered', 'replayed_counted', 'replayed_duplicate'] as const) tally.add(outcome, counts[outcome]);
  // Every summary field is always present (as in click batches), zero or not.
  return { results: answer.results, ...batchSummary(answer) };
}

/** The metrics reason of an impression the use case refused with an error. */
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
const DUPLICATE_ITEM: ItemResult = Object.freeze({ counted: false, duplicate: true });
const BOT_ITEM: ItemResult = Object.freeze({ counted: false, bot_filtered: true });
const REPLAYED_COUNTED_ITEM: ItemResult = Object.freeze({ counted: true, replayed: true });
const REPLAYED_DUPLICATE_ITEM: ItemResult = Object.freeze({ counted: false, duplicate: true, replayed: true });

function toImpression(value: unknown, isBot: BotJudge, eventTime: (timestamp: string | null | undefined) => number | string | undefined): Impression | ValidationError {
  const illFormed = illFormedPath(value, 2);
  if (illFormed !== undefined) return loneSurrogate(illFormed, 'impression');
  if (!validators.impression(value)) return new ValidationError(describe(validators.impression.errors?.[0], 'impression'));
  const at = eventTime(value.timestamp);
  if (typeof at === 'string') return new ValidationError(at);
  const item: Impression = { campaignId: value.campaign_id, userId: value.user_id, adId: value.ad_id, impressionId: value.impression_id ?? undefined, ...(at !== undefined && { at }) };
  return isBot(value.user_agent ?? undefined) ? { ...item, bot: true } : item;
}

