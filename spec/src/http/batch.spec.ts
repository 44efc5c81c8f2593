import { expect } from 'chai';
import { AppError, UnavailableError, ValidationError } from '../../../src/errors.js';
import { answerBatch, batchSummary, type BatchKind } from '../../../src/http/batch.js';

interface Item {
  readonly campaign: string;
  readonly outcome: string;
}

const parse = (value: unknown): Item | ValidationError =>
  typeof value === 'object' && value !== null && 'outcome' in value ? (value as Item) : new ValidationError('not an item');

function kind(failure: (outcome: string, item: Item) => Error): BatchKind<Item, string> & { failures: number } {
  const k = {
    noun: 'things',
    settled: {
      counted: { counted: true },
      duplicate: { counted: false, duplicate: true as const },
      bot_filtered: { counted: false, bot_filtered: true as const },
      replayed_counted: { counted: true, replayed: true as const },
      replayed_duplicate: { counted: false, duplicate: true as const, replayed: true as const },
    },
    failures: 0,
    record: (items: readonly Item[]) => Promise.resolve({ outcomes: items.map((i) => i.outcome), retryAfterMs: 2000 }),
    failure: (outcome: string, item: Item) => {
      k.failures++;
      return Promise.resolve(failure(outcome, item));
    },
    campaignOf: (item: Item) => item.campaign,
  };
  return k;
}

describe('batch answerer (impressions and clicks)', () => {
  it('answers each item in order, counts each way, and never fails the others for a bad one', async () => {
    const k = kind(() => new AppError(404, 'no such campaign'));
    const body = [{ campaign: 'a', outcome: 'counted' }, 'junk', { campaign: 'a', outcome: 'duplicate' }, { campaign: 'b', outcome: 'not_found' }, { campaign: 'a', outcome: 'bot_filtered' }];
    const answer = await answerBatch(body, parse, k);
    expect(answer.results).to.deep.equal([
      { counted: true },
      { error: 'not an item', code: 400 },
      { counted: false, duplicate: true },
      { error: 'no such campaign', code: 404 },
      { counted: false, bot_filtered: true },
    ]);
    expect(answer.counts).to.deep.equal({ counted: 1, duplicate: 1, bot_filtered: 1, replayed_counted: 0, replayed_duplicate: 0 });
    expect(answer).to.include({ invalid: 1, rejected: 2 });
    expect(answer.refused).to.deep.equal(['not_found']);
  });

  it('answers a replay as its first outcome, marked replayed, and sums replays apart in the summary', async () => {
    const k = kind(() => new AppError(404, 'no such campaign'));
    const body = [{ campaign: 'a', outcome: 'replayed_counted' }, { campaign: 'a', outcome: 'replayed_duplicate' }, { campaign: 'a', outcome: 'counted' }];
    const answer = await answerBatch(body, parse, k);
    expect(answer.results).to.deep.equal([{ counted: true, replayed: true }, { counted: false, duplicate: true, replayed: true }, { counted: true }]);
    expect(batchSummary(answer)).to.deep.equal({ counted: 1, duplicates: 0, bot_filtered: 0, replayed: 2, rejected: 0 });
  });

  it('asks for the error of an outcome once per campaign, however many items share it', async () => {
    const k = kind((_o, item) => new UnavailableError(`campaign ${item.campaign} is restarting`, 2000));
    const body = [...Array.from({ length: 5 }, () => ({ campaign: 'a', outcome: 'unavailable' })), { campaign: 'b', outcome: 'unavailable' }];
    const answer = await answerBatch(body, parse, k);
    expect(k.failures).to.equal(2);
    expect(answer.results[4]).to.deep.equal({ error: 'campaign a is restarting', code: 503 });
    expect(answer.results[5]).to.deep.equal({ error: 'campaign b is restarting', code: 503 });
  });

  it('shows an item error with the same rule as every answer: no internal text for a 5xx other than our own', async () => {
    const k = kind(() => new Error('socket hang up at 10.0.0.7'));
    const answer = await answerBatch([{ campaign: 'a', outcome: 'broken' }], parse, k);
    expect(answer.results).to.deep.equal([{ error: 'internal server error', code: 500 }]);
  });
});
