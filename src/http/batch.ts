import { setImmediate as nextTurn } from 'node:timers/promises';
import { isAnswered, type Answered } from '../counter.js';
import { PayloadTooLargeError, ValidationError } from '../errors.js';
import { errorResponse } from './errors.js';

/** What a batch item answers: how it was settled, or its error in the one error shape. */
export type ItemResult =
  | { readonly counted: boolean; readonly duplicate?: true; readonly bot_filtered?: true; readonly replayed?: true }
  | { readonly error: string; readonly code: number };

/** The outcomes a batch answers item by item (a replay answers its first outcome); any other outcome stands for an error. */
export type Settled = Answered;

/** Every summary field of a batch answer, always present (zero or not), for impressions and clicks alike. */
export interface BatchSummary {
  readonly counted: number;
  readonly duplicates: number;
  readonly bot_filtered: number;
  /** Retries of an id already recorded: each answers its first outcome and counts nothing again. */
  readonly replayed: number;
  readonly rejected: number;
}

export interface BatchKind<T, O extends string> {
  /** `impressions`, `clicks`: for the batch-limit message. */
  readonly noun: string;
  /** The answer of an item settled each way (shared, never mutated: no object per item). */
  readonly settled: Readonly<Record<Settled, ItemResult>>;
  /** Records the valid items; one outcome per item, in order. */
  record(items: readonly T[]): Promise<{ readonly outcomes: readonly O[]; readonly retryAfterMs: number }>;
  /** The error an unsettled outcome stands for (asked once per outcome and campaign). */
  failure(outcome: Exclude<O, Settled>, item: T, retryAfterMs: number): Promise<Error>;
  campaignOf(item: T): string;
}

export interface BatchAnswer<O extends string> {
  readonly results: ItemResult[];
  readonly counts: Readonly<Record<Settled, number>>;
  /** Items that failed validation. */
  readonly invalid: number;
  /** Outcomes that stood for errors, one per such item. */
  readonly refused: readonly Exclude<O, Settled>[];
  readonly rejected: number;
}

/** Batches at least this large give the event loop a turn between parsing, validating and answering. */
const LARGE_BATCH = 1000;

/** Refuses an empty batch (400) and one over BATCH_LIMIT (413). */
export function checkBatchSize(body: readonly unknown[], limit: number, noun: string): void {
  if (body.length === 0) throw new ValidationError('batch is empty');
  if (body.length > limit) throw new PayloadTooLargeError(`batch of ${body.length} ${noun} exceeds the limit of ${limit}`);
}

/**
 * Answers a batch item by item, for impressions and clicks alike: each item is parsed on its own (a
 * bad one never fails the others), the valid ones are recorded in one call, and each refused item
 * gets the error its outcome stands for, with the text and status `errorResponse` gives any error.
 */
export async function answerBatch<T, O extends string>(body: readonly unknown[], parse: (value: unknown) => T | ValidationError, kind: BatchKind<T, O>): Promise<BatchAnswer<O>> {
  const large = body.length >= LARGE_BATCH;
  if (large) await nextTurn(); // JSON.parse of the body ran in this turn
  const parsed = body.map(parse);
  const accepted: T[] = [];
  const positions: number[] = [];
  parsed.forEach((p, i) => {
    if (p instanceof ValidationError) return;
    accepted.push(p);
    positions.push(i);
  });
  const { outcomes, retryAfterMs } = accepted.length > 0 ? await kind.record(accepted) : { outcomes: [], retryAfterMs: 0 };
  if (large) await nextTurn();

  const results: ItemResult[] = parsed.map((p) => (p instanceof ValidationError ? itemError(p) : kind.settled.duplicate));
  const counts: Record<Settled, number> = { counted: 0, duplicate: 0, bot_filtered: 0, replayed_counted: 0, replayed_duplicate: 0 };
  const refused: Exclude<O, Settled>[] = [];
  const errors = new Map<string, ItemResult>();
  for (let k = 0; k < outcomes.length; k++) {
    const outcome: string = outcomes[k];
    if (isAnswered(outcome)) {
      counts[outcome]++;
      results[positions[k]] = kind.settled[outcome];
      continue;
    }
    const failed = outcome as Exclude<O, Settled>;
    refused.push(failed);
    const key = `${failed}\u0000${kind.campaignOf(accepted[k])}`;
    let result = errors.get(key);
    if (result === undefined) errors.set(key, (result = itemError(await kind.failure(failed, accepted[k], retryAfterMs))));
    results[positions[k]] = result;
  }
  const settled = counts.counted + counts.duplicate + counts.bot_filtered + counts.replayed_counted + counts.replayed_duplicate;
  return { results, counts, invalid: body.length - accepted.length, refused, rejected: body.length - settled };
}

/** The summary fields of a batch answer. */
export function batchSummary(answer: Pick<BatchAnswer<string>, 'counts' | 'rejected'>): BatchSummary {
  const { counts } = answer;
  return {
    counted: counts.counted,
    duplicates: counts.duplicate,
    bot_filtered: counts.bot_filtered,
    replayed: counts.replayed_counted + counts.replayed_duplicate,
    rejected: answer.rejected,
  };
}

function itemError(err: Error): ItemResult {
  const { status, message } = errorResponse(err);
  return { error: message, code: status };
}
