import type { Context } from 'koa';
import type { Impression, Outcome } from '../../actors/protocol.js';
import type { Counter } from '../counter.js';
import { AppError, PayloadTooLargeError, ValidationError } from '../errors.js';
import { validators } from './schemas.js';
import { describe } from './validate.js';

type ItemResult = { counted: boolean } | { error: string; code: number };

const COUNTED = { message: 'impression counted', counted: true } as const;
const DUPLICATE = { message: 'duplicate impression within the dedupe window; not counted', counted: false } as const;

export function impressionHandlers(counter: Counter, batchLimit: number) {
  return {
    /** One impression object, or an array of them (a batch answered item by item). */
    async record(ctx: Context): Promise<void> {
      const body: unknown = ctx.request.body;
      if (!Array.isArray(body)) {
        const item = toImpression(body);
        if (item instanceof ValidationError) throw item;
        ctx.body = (await counter.recordImpression(item)) ? COUNTED : DUPLICATE;
        return;
      }
      if (body.length === 0) throw new ValidationError('batch is empty');
      if (body.length > batchLimit) {
        throw new PayloadTooLargeError(`batch of ${body.length} impressions exceeds the limit of ${batchLimit}`);
      }
      ctx.body = await recordBatch(counter, body);
    },
  };
}

async function recordBatch(counter: Counter, body: unknown[]) {
  const parsed = body.map(toImpression);
  const accepted: Impression[] = [];
  const positions: number[] = [];
  parsed.forEach((p, i) => {
    if (p instanceof ValidationError) return;
    accepted.push(p);
    positions.push(i);
  });
  const { outcomes, retryAfterMs } = accepted.length > 0 ? await counter.recordImpressions(accepted) : { outcomes: [], retryAfterMs: 0 };

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
      const campaignId = accepted[k].campaignId;
      const key = `${outcome}\u0000${campaignId}`;
      let result = errors.get(key);
      if (result === undefined) {
        errors.set(key, (result = errorResult(await counter.outcomeError(outcome, campaignId, retryAfterMs))));
      }
      results[positions[k]] = result;
    }
  }
  return { results, counted, duplicates, rejected: body.length - counted - duplicates };
}

function toImpression(value: unknown): Impression | ValidationError {
  if (!validators.impression(value)) return new ValidationError(describe(validators.impression.errors?.[0], 'impression'));
  return { campaignId: value.campaign_id, userId: value.user_id, adId: value.ad_id, impressionId: value.impression_id };
}

function errorResult(err: Error): ItemResult {
  const code = err instanceof AppError ? err.status : 500;
  return { error: code >= 500 && code !== 503 ? 'internal server error' : err.message, code };
}
