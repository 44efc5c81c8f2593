import type { Context } from 'koa';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { Counter } from '../counter.js';
import { AppError, CampaignNotFoundError, CampaignNotStartedError, DeadLetterError, PayloadTooLargeError, UnavailableError, ValidationError } from '../errors.js';
import { NO_OUTCOMES, type ImpressionOutcome, type OutcomeRecorder } from '../metrics.js';
import { validators } from './schemas.js';
import { describe } from './validate.js';

type ItemResult = { counted: boolean } | { error: string; code: number };

const COUNTED = { message: 'impression counted', counted: true } as const;
const DUPLICATE = { message: 'duplicate impression within the dedupe window; not counted', counted: false } as const;

export function impressionHandlers(counter: Counter, batchLimit: number, outcomes: OutcomeRecorder = NO_OUTCOMES) {
  return {
    /** One impression object, or an array of them (a batch answered item by item). */
    async record(ctx: Context): Promise<void> {
      const body: unknown = ctx.request.body;
      if (!Array.isArray(body)) {
        const item = toImpression(body);
        if (item instanceof ValidationError) {
          outcomes.add('invalid');
          throw item;
        }
        let counted: boolean;
        try {
          counted = await counter.recordImpression(item);
        } catch (err) {
          outcomes.add(rejection(err));
          throw err;
        }
        outcomes.add(counted ? 'counted' : 'duplicate');
        ctx.body = counted ? COUNTED : DUPLICATE;
        return;
      }
      if (body.length === 0) throw new ValidationError('batch is empty');
      if (body.length > batchLimit) {
        throw new PayloadTooLargeError(`batch of ${body.length} impressions exceeds the limit of ${batchLimit}`);
      }
      ctx.body = await recordBatch(counter, body, outcomes);
    },
  };
}

async function recordBatch(counter: Counter, body: unknown[], tally: OutcomeRecorder) {
  const parsed = body.map(toImpression);
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

  const results: ItemResult[] = parsed.map((p) => (p instanceof ValidationError ? errorResult(p) : { counted: false }));
  const errors = new Map<string, ItemResult>();
  let counted = 0;
  let duplicates = 0;
  for (let k = 0; k < outcomes.length; k++) {
    const outcome: Outcome = outcomes[k];
    if (outcome === 'counted') {
      counted++;
      results[positions[k]] = { counted: true };
    } else if (outcome === 'duplicate') {
      duplicates++;
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
  return { results, counted, duplicates, rejected: body.length - counted - duplicates };
}

/** The metrics reason of an impression the façade refused with an error. */
function rejection(err: unknown): ImpressionOutcome {
  if (err instanceof CampaignNotFoundError) return 'not_found';
  if (err instanceof CampaignNotStartedError) return 'not_started';
  if (err instanceof UnavailableError) return 'unavailable';
  if (err instanceof DeadLetterError) return 'dead_letter';
  return 'error';
}

function toImpression(value: unknown): Impression | ValidationError {
  if (!validators.impression(value)) return new ValidationError(describe(validators.impression.errors?.[0], 'impression'));
  return { campaignId: value.campaign_id, userId: value.user_id, adId: value.ad_id, impressionId: value.impression_id ?? undefined };
}

function errorResult(err: Error): ItemResult {
  const code = err instanceof AppError ? err.status : 500;
  return { error: code >= 500 && code !== 503 ? 'internal server error' : err.message, code };
}
