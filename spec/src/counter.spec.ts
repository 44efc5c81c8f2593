import { expect } from 'chai';
import sinon from 'sinon';
import { startCounterSystem, type CounterSystem } from '../../actors/system.js';
import { CampaignAnalytics } from '../../actors/counting/analytics.js';
import { Counter } from '../../src/counter.js';
import { CampaignNotFoundError, CampaignNotStartedError, UnavailableError } from '../../src/errors.js';

/** A clock the test moves by hand: the façade stamps every message with it. */
class ManualClock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
}

const T0 = Date.UTC(2026, 0, 15, 10, 30, 12, 345);
const HOUR = 3_600_000;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  expect.fail('expected the promise to reject');
}

describe('Counter (the façade over the actor system)', () => {
  let clock: ManualClock;
  let system: CounterSystem;
  let counter: Counter;
  let ids: number;

  function start(options: { maxRestarts?: number; restartWindowMs?: number } = {}): void {
    system = startCounterSystem({
      clock,
      ttlMs: HOUR,
      tickMs: 60_000,
      sweepBudget: 65_536,
      supervision: { maxRestarts: options.maxRestarts ?? 5, windowMs: options.restartWindowMs ?? 60_000 },
    });
    counter = new Counter({ registry: system.registry, clock, askTimeoutMs: 200, newId: () => `c${++ids}` });
  }

  beforeEach(() => {
    clock = new ManualClock(T0);
    ids = 0;
    start();
  });
  afterEach(() => {
    sinon.restore();
    system.stop();
  });

  describe('campaigns', () => {
    it('creates a campaign with a generated id, starting now by default', async () => {
      const info = await counter.campaigns.create({ name: 'spring' });
      expect(info).to.deep.equal({ id: 'c1', name: 'spring', startTime: T0, createdAt: T0 });
      expect(await counter.campaigns.get('c1')).to.deep.equal(info);
    });

    it('keeps an explicit start time', async () => {
      const info = await counter.campaigns.create({ name: 'later', startTime: T0 + HOUR });
      expect(info.startTime).to.equal(T0 + HOUR);
      expect(info.createdAt).to.equal(T0);
    });

    it('generates a UUID when no id generator is given', async () => {
      const plain = new Counter({ registry: system.registry, clock, askTimeoutMs: 200 });
      const info = await plain.campaigns.create({ name: 'uuid' });
      expect(info.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    });

    it('throws CampaignNotFoundError (404) for an unknown id', async () => {
      const err = await rejection(counter.campaigns.get('nope'));
      expect(err).to.be.instanceOf(CampaignNotFoundError);
      expect((err as CampaignNotFoundError).status).to.equal(404);
      expect((err as Error).message).to.include('"nope"');
    });

    it('lists campaigns in creation order, page by page', async () => {
      for (let i = 0; i < 5; i++) await counter.campaigns.create({ name: `n${i}` });
      const first = await counter.campaigns.list(0, 2);
      expect(first.campaigns.map((c) => c.id)).to.deep.equal(['c1', 'c2']);
      expect(first.next).to.equal(2);
      const last = await counter.campaigns.list(4, 2);
      expect(last.campaigns.map((c) => c.id)).to.deep.equal(['c5']);
      expect(last.next).to.equal(undefined);
    });
  });

  describe('impressions', () => {
    it('answers true when counted and false for a repeat of the same user', async () => {
      await counter.campaigns.create({ name: 'a', startTime: 0 });
      const imp = { campaignId: 'c1', userId: 'u1', adId: 'ad' };
      expect(await counter.impressions.record(imp)).to.equal(true);
      expect(await counter.impressions.record(imp)).to.equal(false);
      expect(await counter.campaigns.stats('c1')).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });

    it('stamps impressions with its clock: a repeat at TTL − 1 ms is a duplicate, at TTL it counts', async () => {
      await counter.campaigns.create({ name: 'a', startTime: 0 });
      const imp = { campaignId: 'c1', userId: 'u1', adId: 'ad' };
      expect(await counter.impressions.record(imp)).to.equal(true);
      clock.ms = T0 + HOUR - 1;
      expect(await counter.impressions.record(imp)).to.equal(false);
      clock.ms = T0 + HOUR;
      expect(await counter.impressions.record(imp)).to.equal(true);
    });

    it('throws CampaignNotFoundError for an unknown campaign', async () => {
      const err = await rejection(counter.impressions.record({ campaignId: 'ghost', userId: 'u', adId: 'a' }));
      expect(err).to.be.instanceOf(CampaignNotFoundError);
    });

    it('throws CampaignNotStartedError (409) naming the start time', async () => {
      await counter.campaigns.create({ name: 'future', startTime: T0 + 1 });
      const err = await rejection(counter.impressions.record({ campaignId: 'c1', userId: 'u', adId: 'a' }));
      expect(err).to.be.instanceOf(CampaignNotStartedError);
      expect((err as CampaignNotStartedError).status).to.equal(409);
      expect((err as Error).message).to.include(new Date(T0 + 1).toISOString());
      clock.ms = T0 + 1;
      expect(await counter.impressions.record({ campaignId: 'c1', userId: 'u', adId: 'a' })).to.equal(true);
    });

    it('answers a batch with one outcome per item, in order', async () => {
      await counter.campaigns.create({ name: 'a', startTime: 0 });
      await counter.campaigns.create({ name: 'b', startTime: T0 + HOUR });
      const result = await counter.impressions.recordMany([
        { campaignId: 'c1', userId: 'u1', adId: 'x' },
        { campaignId: 'ghost', userId: 'u1', adId: 'x' },
        { campaignId: 'c1', userId: 'u1', adId: 'x' },
        { campaignId: 'c2', userId: 'u1', adId: 'x' },
        { campaignId: 'c1', userId: 'u2', adId: 'x' },
      ]);
      expect(result.outcomes).to.deep.equal(['counted', 'not_found', 'duplicate', 'not_started', 'counted']);
      expect(result.retryAfterMs).to.equal(0);
    });
  });

  describe('stats', () => {
    it('throws CampaignNotFoundError for an unknown campaign', async () => {
      expect(await rejection(counter.campaigns.stats('ghost'))).to.be.instanceOf(CampaignNotFoundError);
    });

    it('reads the windows at the clock time', async () => {
      await counter.campaigns.create({ name: 'a', startTime: 0 });
      await counter.impressions.record({ campaignId: 'c1', userId: 'u1', adId: 'ad' });
      clock.ms = T0 + 2 * HOUR;
      expect(await counter.campaigns.stats('c1')).to.deep.equal({ lastHour: 0, lastDay: 1, total: 1 });
    });
  });

  describe('when the actor system cannot answer', () => {
    it('turns an ask timeout into UnavailableError (503) with Retry-After', async () => {
      system.stop(); // a stopped registry drops every message: only the timeout answers
      const err = await rejection(counter.campaigns.get('c1'));
      expect(err).to.be.instanceOf(UnavailableError);
      expect((err as UnavailableError).status).to.equal(503);
      expect((err as UnavailableError).headers['Retry-After']).to.match(/^[1-9]\d*$/);
    });

    it('turns a crashed campaign into UnavailableError, then keeps serving with its counts', async () => {
      await counter.campaigns.create({ name: 'a', startTime: 0 });
      await counter.impressions.record({ campaignId: 'c1', userId: 'u1', adId: 'ad' });
      sinon.stub(CampaignAnalytics.prototype, 'countedAt').onFirstCall().throws(new Error('boom')).callThrough();
      const err = await rejection(counter.impressions.record({ campaignId: 'c1', userId: 'u2', adId: 'ad' }));
      expect(err).to.be.instanceOf(UnavailableError);
      expect((err as Error).message).not.to.include('boom');
      expect(await counter.impressions.record({ campaignId: 'c1', userId: 'u3', adId: 'ad' })).to.equal(true);
      expect((await counter.campaigns.stats('c1')).total).to.equal(2);
    });

    it('answers 503 while a campaign is suspended and serves again after the restart window', async () => {
      system.stop();
      start({ maxRestarts: 0, restartWindowMs: 60_000 });
      await counter.campaigns.create({ name: 'a', startTime: 0 });
      await counter.impressions.record({ campaignId: 'c1', userId: 'u1', adId: 'ad' });
      sinon.stub(CampaignAnalytics.prototype, 'countedAt').onFirstCall().throws(new Error('boom')).callThrough();
      expect(await rejection(counter.impressions.record({ campaignId: 'c1', userId: 'u2', adId: 'ad' }))).to.be.instanceOf(UnavailableError);

      clock.ms = T0 + 1000;
      const suspended = await rejection(counter.impressions.record({ campaignId: 'c1', userId: 'u3', adId: 'ad' }));
      expect(suspended).to.be.instanceOf(UnavailableError);
      expect(Number((suspended as UnavailableError).headers['Retry-After'])).to.equal(59);
      expect(await rejection(counter.campaigns.stats('c1'))).to.be.instanceOf(UnavailableError);

      clock.ms = T0 + 60_000;
      expect(await counter.impressions.record({ campaignId: 'c1', userId: 'u3', adId: 'ad' })).to.equal(true);
      expect((await counter.campaigns.stats('c1')).total).to.equal(2);
    });
  });
});
