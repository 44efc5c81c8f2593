import type { Context } from 'koa';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { Answered, Counter } from '../counter.js';
import { AppError, CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, OverBudgetError, PayloadTooLargeError, UnavailableError, ValidationError } from '../errors.js';
import { NO_OUTCOMES, type ImpressionOutcome, type OutcomeRecorder } from '../metrics.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { validators } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

type ItemResult = { counted: boolean; duplicate?: true; bot_filtered?: true; replayed?: true } | { error: string; code: number };

const COUNTED = { message: 'impression counted', counted: true } as const;
const DUPLICATE = { message: 'duplicate impression within the dedupe window; not counted', counted: false, duplicate: true } as const;
const BOT = { message: 'impression from a bot user agent; not counted', counted: false, bot_filtered: true } as const;
const REPLAYED_COUNTED = { message: 'retry of an impression_id already recorded: it was counted the first time; not counted again', counted: true, replayed: true } as const;
const REPLAYED_DUPLICATE = { message: 'retry of an impression_id already recorded: it was a duplicate the first time; not counted', counted: false, duplicate: true, replayed: true } as const;

const ANSWERS = { counted: COUNTED, duplicate: DUPLICATE, bot_filtered: BOT, replayed_counted: REPLAYED_COUNTED, replayed_duplicate: REPLAYED_DUPLICATE } as const;

/** The single-impression answers, serialized once (the fast lane sends these bytes as they are). */
export const SERIALIZED: ReadonlyMap<object, string> = new Map(Object.values(ANSWERS).map((a) => [a, JSON.stringify(a)]));

/** The header a single answer that replays an earlier outcome carries (the fast lane and Koa alike). */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Whether a single answer replays an earlier outcome (it then carries `Idempotent-Replayed: true`). */
export function isReplay(answer: object): boolean {
  return answer === REPLAYED_COUNTED || answer === REPLAYED_DUPLICATE;
}

/** Answers a POST /impressions body: the same function serves the Koa route and the fast lane. */
export type ImpressionAnswerer = (body: unknown, userAgent: string | undefined) => Promise<object>;

export function impressionAnswerer(counter: Counter, batchLimit: number, outcomes: OutcomeRecorder = NO_OUTCOMES, bots: BotFilter = BOTS_ON): ImpressionAnswerer {
  return async (body, agent) => {
    const isBot = bots.forRequest(agent);
    const now = counter.analytics.now();
    const eventTime = (timestamp: string | null | undefined): number | string | undefined =>
      timestamp == null ? undefined : counter.analytics.clickTime(Date.parse(timestamp), now);
    if (!Array.isArray(body)) {
      const item = toImpression(body, isBot, eventTime);
      if (item instanceof ValidationError) {
        outcomes.add('invalid');
        throw item;
      }
      let outcome: Answered;
      try {
        outcome = await counter.recordImpressionOutcome(item);
      } catch (err) {
        outcomes.add(rejection(err));
        throw err;
      }
      outcomes.add(outcome);
      return ANSWERS[outcome];
    }
    if (body.length === 0) throw new ValidationError('batch is empty');
    if (body.length > batchLimit) {
      throw new PayloadTooLargeError(`batch of ${body.length} impressions exceeds the limit of ${batchLimit}`);
    }
    return recordBatch(counter, body, outcomes, (v) => toImpression(v, isBot, eventTime));
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

/** Batches at least this large give the event loop a turn between parsing, validating and answering. */
const LARGE_BATCH = 1000;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function recordBatch(counter: Counter, body: unknown[], tally: OutcomeRecorder, parse: (value: unknown) => Impression | ValidationError) {
  const large = body.length >= LARGE_BATCH;
  if (large) await yieldToLoop(); // JSON.parse of the body ran in this turn
  const parsed = body.map(parse);
  const accepted: Impression[] = [];
  const positions: number[] = [];
  parsed.forEach((p, i) => {
    if (p instanceof ValidationError) return;
    accepted.push(p);
    positions.push(i);
  });
  if (accepted.length < body.length) tally.add('invalid', body.length - accepted.length);
  let answer: Awaited<ReturnType<Counter['recordImpressions']>> = { outcomes: [], retryAfterMs: 0 };
  try {
    if (accepted.length > 0) answer = await counter.recordImpressions(accepted);
  } catch (err) {
    tally.add(rejection(err), accepted.length);
    throw err;
  }
  const { outcomes, retryAfterMs } = answer;
  if (large) await yieldToLoop();

  const results: ItemResult[] = parsed.map((p) => (p instanceof ValidationError ? errorResult(p) : DUPLICATE_ITEM));
  const errors = new Map<string, ItemResult>();
  let counted = 0;
  let duplicates = 0;
  let bots = 0;
  let replayed = 0;
  for (let k = 0; k < outcomes.length; k++) {
    const outcome: Outcome = outcomes[k];
    if (outcome === 'counted') {
      counted++;
      results[positions[k]] = COUNTED_ITEM;
    } else if (outcome === 'duplicate') {
      duplicates++;
    } else if (outcome === 'replayed_counted' || outcome === 'replayed_duplicate') {
      replayed++;
      tally.add(outcome);
      results[positions[k]] = outcome === 'replayed_counted' ? REPLAYED_COUNTED_ITEM : REPLAYED_DUPLICATE_ITEM;
    } else if (outcome === 'bot_filtered') {
      bots++;
      results[positions[k]] = BOT_ITEM;
    } else {
      tally.add(outcome);
      const campaignId = accepted[k].campaignId;
      const key = `${outcome}\u0000${campaignId}`;
      let result = errors.get(key);
      if (result === undefined) {
        errors.set(key, (result = errorResult(await counter.outcomeError(outcome, campaignId, retryAfterMs))));
      }
      results[positions[k]] = result;
    }
  }
  tally.add('counted', counted);
  tally.add('duplicate', duplicates);
  tally.add('bot_filtered', bots);
  // Every summary field is always present (as in click batches), zero or not.
  return { results, counted, duplicates, bot_filtered: bots, replayed, rejected: body.length - counted - duplicates - bots - replayed };
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

function errorResult(err: Error): ItemResult {
  const code = err instanceof AppError ? err.status : 500;
  return { error: code >= 500 && code !== 503 ? 'internal server error' : err.message, code };
}
