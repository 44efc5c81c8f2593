import type { Context } from 'koa';
import type { Click, ClickOutcome } from '../../actors/analytics-protocol.js';
import { isAnswered, type Answered, type Counter } from '../counter.js';
import { AppError, CampaignNotFoundError, CampaignNotStartedError, OverBudgetError, PayloadTooLargeError, UnavailableError, ValidationError } from '../errors.js';
import { REPLAYED_HEADER } from './impressions.js';
import { NO_OUTCOMES, type OutcomeRecorder } from '../metrics.js';
import { BOTS_ON, type BotFilter, type BotJudge } from './bots.js';
import { analyticsValidators as v } from './schemas.js';
import { illFormedPath, loneSurrogate } from './unicode.js';
import { describe } from './validate.js';

type ItemResult = { counted: boolean; duplicate?: true; bot_filtered?: true; replayed?: true } | { error: string; code: number };
type Answer = { message: string; counted: boolean; duplicate?: true; bot_filtered?: true; replayed?: true };

const MESSAGES: Record<Answered, Answer> = {
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
  const analytics = counter.analytics;
  return {
    async record(ctx: Context): Promise<void> {
      const body: unknown = ctx.request.body;
      const isBot = bots.forRequest(ctx.get('User-Agent') || undefined);
      const now = analytics.now();
      const parse = (value: unknown): Click | ValidationError => toClick(value, now, isBot, counter);
      if (!Array.isArray(body)) {
        const click = parse(body);
        if (click instanceof ValidationError) {
          tally.add('invalid');
          throw click;
        }
        const { outcomes, retryAfterMs } = await recorded(tally, 1, analytics.recordClicks([click], now));
        const outcome = outcomes[0];
        tally.add(outcome);
        if (isAnswered(outcome)) {
          if (outcome === 'replayed_counted' || outcome === 'replayed_duplicate') ctx.set(REPLAYED_HEADER, 'true');
          ctx.body = MESSAGES[outcome];
          return;
        }
        throw await failure(counter, outcome, click.campaignId, retryAfterMs);
      }
      if (body.length === 0) throw new ValidationError('batch is empty');
      if (body.length > batchLimit) throw new PayloadTooLargeError(`batch of ${body.length} clicks exceeds the limit of ${batchLimit}`);
      const parsed = body.map(parse);
      const accepted: Click[] = [];
      const positions: number[] = [];
      parsed.forEach((p, i) => {
        if (p instanceof ValidationError) return;
        accepted.push(p);
        positions.push(i);
      });
      if (accepted.length < body.length) tally.add('invalid', body.length - accepted.length);
      const { outcomes, retryAfterMs } = accepted.length > 0 ? await recorded(tally, accepted.length, analytics.recordClicks(accepted, now)) : { outcomes: [], retryAfterMs: 0 };
      const results: ItemResult[] = parsed.map((p) => (p instanceof ValidationError ? errorResult(p) : { counted: false }));
      const counts = { counted: 0, duplicate: 0, bot_filtered: 0, replayed_counted: 0, replayed_duplicate: 0 };
      const errors = new Map<string, ItemResult>();
      for (let k = 0; k < outcomes.length; k++) {
        const outcome = outcomes[k];
        tally.add(outcome);
        if (isAnswered(outcome)) {
          counts[outcome]++;
          results[positions[k]] = ITEMS[outcome];
          continue;
        }
        const key = `${outcome}\u0000${accepted[k].campaignId}`;
        let result = errors.get(key);
        if (result === undefined) errors.set(key, (result = errorResult(await failure(counter, outcome, accepted[k].campaignId, retryAfterMs))));
        results[positions[k]] = result;
      }
      const replayed = counts.replayed_counted + counts.replayed_duplicate;
      ctx.body = {
        results,
        counted: counts.counted,
        duplicates: counts.duplicate,
        bot_filtered: counts.bot_filtered,
        replayed,
        rejected: body.length - counts.counted - counts.duplicate - counts.bot_filtered - replayed,
      };
    },
  };
}

/** Counts the clicks of a call the façade refused as a whole (a journal backlog, an ask timeout) by reason. */
async function recorded<T>(tally: OutcomeRecorder, n: number, answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (err) {
    tally.add(err instanceof UnavailableError ? 'unavailable' : err instanceof CampaignNotFoundError ? 'not_found' : 'error', n);
    throw err;
  }
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
    clickId: value.click_id ?? undefined,
  };
}

async function failure(counter: Counter, outcome: Exclude<ClickOutcome, Answered>, campaignId: string, retryAfterMs: number): Promise<Error> {
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

function errorResult(err: Error): ItemResult {
  const code = err instanceof AppError ? err.status : 500;
  return { error: code >= 500 && code !== 503 ? 'internal server error' : err.message, code };
}
