import type { Context } from 'koa';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { Counter } from '../counter.js';
import { AppError, CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, OverBudgetError, PayloadTooLargeError, UnavailableError, ValidationError } from '../errors.js';
import { NO_OUTCOMES, type ImpressionOutcome, type OutcomeRecorder } from '../metrics.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { validators } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

type ItemResult = { counted: boolean; bot_filtered?: true } | { error: string; code: number };

const COUNTED = { message: 'impression counted', counted: true } as const;
const DUPLICATE = { message: 'duplicate impression within the dedupe window; not counted', counted: false } as const;
const BOT = { message: 'impression from a bot user agent; not counted', counted: false, bot_filtered: true } as const;

/** The single-impression answers, serialized once (the fast lane sends these bytes as they are). */
export const SERIALIZED: ReadonlyMap<object, string> = new Map([COUNTED, DUPLICATE, BOT].map((a) => [a, JSON.stringify(a)]));

/** Answers a POST /impressions body: the same function serves the Koa route and the fast lane. */
export type ImpressionAnswerer = (body: unknown, userAgent: string | undefined) => Promise<object>;

export function impressionAnswerer(counter: Counter, batchLimit: number, outcomes: OutcomeRecorder = NO_OUTCOMES, bots: BotFilter = BOTS_ON): ImpressionAnswerer {
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
    if (body.length === 0) throw new ValidationError('batch is empty');
    if (body.length > batchLimit) {
      throw new PayloadTooLargeError(`batch of ${body.length} impressions exceeds the limit of ${batchLimit}`);
    }
    return recordBatch(counter, body, outcomes, (v) => toImpression(v, isBot));
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
  for (let k = 0; k < outcomes.length; k++) {
    const outcome: Outcome = outcomes[k];
    if (outcome === 'counted') {
      counted++;
      results[positions[k]] = COUNTED_ITEM;
    } else if (outcome === 'duplicate') {
      duplicates++;
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
  // `bot_filtered` appears only when some were, so the answer keeps its shape where bots are not an issue.
  return { results, counted, duplicates, ...(bots > 0 && { bot_filtered: bots }), rejected: body.length - counted - duplicates - bots };
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

function errorResult(err: Error): ItemResult {
  const code = err instanceof AppError ? err.status : 500;
  return { error: code >= 500 && code !== 503 ? 'internal server error' : err.message, code };
}
