import { expect } from 'chai';
import sinon from 'sinon';
import { createActor } from 'xstate';
import { answerInflight, campaignLogic, IDEMPOTENCY_TTL_MS, newCampaignState, replayCounted, type CampaignSnapshot, type CampaignState } from '../../../actors/campaign/campaign.js';
import { analyticsOf } from '../../../actors/campaign/campaign-analytics.js';
import { TallyCode } from '../../../actors/counting/analytics-values.js';
import { hash128 } from '../../../actors/counting/hash128.js';
import type { JournalSink, Outcome, Stats } from '../../../actors/protocol.js';
import { CampaignAnalytics } from '../../../actors/counting/analytics.js';
import { DedupeTable } from '../../../actors/counting/dedupe.js';
import { campaignInfo, HOUR_MS, impression, MINUTE_MS, startCampaign, userIds, type CampaignHarness } from '../../helpers/actors.js';

const START = 1_700_000_040_000; // a whole minute
const TTL = HOUR_MS;

describe('campaign actor', () => {
  let campaign: CampaignHarness;

  beforeEach(() => {
    campaign = startCampaign({ id: 'c1', startTime: START, ttlMs: TTL });
  });

  afterEach(() => {
    sinon.restore();
    campaign.stop();
  });

  describe('impressions', () => {
    it('answers not_started before start_time and counts from exactly start_time', () => {
      expect(campaign.impressions(START - 1, ['u1']).out).to.deep.equal(['not_started']);
      expect(campaign.impressions(START, ['u1']).out).to.deep.equal(['counted']);
    });

    it('does not remember a user whose impression came before start_time', () => {
      campaign.impressions(START - 1_000, ['u1']);
      expect(campaign.describe().dedupeEntries).to.equal(0);
      expect(campaign.stats(START).total).to.equal(0);
    });

    it('counts first impressions and answers repeats within the TTL as duplicates, in item order', () => {
      const { out } = campaign.impressions(START, ['u1', 'u2', 'u1', 'u3', 'u2']);
      expect(out).to.deep.equal(['counted', 'counted', 'duplicate', 'counted', 'duplicate']);
    });

    it('counts a user again at exactly the TTL but not at TTL − 1 ms', () => {
      campaign.impressions(START, ['u1']);
      expect(campaign.impressions(START + TTL - 1, ['u1']).out).to.deep.equal(['duplicate']);
      expect(campaign.impressions(START + TTL, ['u1']).out).to.deep.equal(['counted']);
    });

    it('writes each outcome at the index given for its item and leaves the other slots alone', () => {
      // Arrange
      const out: Outcome[] = ['not_found', 'unavailable', 'not_found', 'unavailable', 'unavailable', 'not_found'];
      const done = sinon.spy();

      // Act
      campaign.ref.send({
        type: 'impressions',
        at: START,
        items: [impression('c1', 'u1'), impression('c1', 'u1')],
        indices: [4, 1],
        out,
        done,
      });

      // Assert
      expect(out).to.deep.equal(['not_found', 'duplicate', 'not_found', 'unavailable', 'counted', 'not_found']);
      expect(done.calledOnce).to.equal(true);
    });

    it('calls done exactly once per message, after every outcome is written', () => {
      // Arrange
      const out = new Array<Outcome>(3).fill('unavailable');
      const seenByDone: Outcome[][] = [];
      const done = sinon.spy(() => seenByDone.push([...out]));

      // Act
      campaign.ref.send({ type: 'impressions', at: START, items: ['a', 'b', 'a'].map((u) => impression('c1', u)), indices: [0, 1, 2], out, done });

      // Assert
      expect(done.callCount).to.equal(1);
      expect(seenByDone).to.deep.equal([['counted', 'counted', 'duplicate']]);
    });

    it('calls done once for a message with no items', () => {
      const { out, done } = campaign.impressions(START, []);
      expect(out).to.deep.equal([]);
      expect(done.callCount).to.equal(1);
    });

    it('processes a message sent while it is busy after the current one, before send returns', () => {
      // Arrange: the first message's done sends a second message to the same actor.
      const order: string[] = [];
      const second = { out: ['unavailable'] as Outcome[], done: () => order.push('second done') };
      const first = {
        out: ['unavailable'] as Outcome[],
        done: () => {
          order.push('first done');
          campaign.ref.send({ type: 'impressions', at: START + 1, items: [impression('c1', 'u1')], indices: [0], ...second });
          order.push(`second queued, outcome ${second.out[0]}`);
        },
      };

      // Act
      campaign.ref.send({ type: 'impressions', at: START, items: [impression('c1', 'u1')], indices: [0], ...first });

      // Assert
      expect(order).to.deep.equal(['first done', 'second queued, outcome unavailable', 'second done']);
      expect(first.out).to.deep.equal(['counted']);
      expect(second.out).to.deep.equal(['duplicate']);
    });

    it('counts only by event time: it never reads the wall clock', () => {
      // Arrange
      const now = sinon.stub(Date, 'now').throws(new Error('the campaign read the wall clock'));

      // Act
      const { out } = campaign.impressions(START + 5, ['u1', 'u1']);
      const stats = campaign.stats(START + 5);
      campaign.sweep(START + 5, 1_000);
      now.restore();

      // Assert
      expect(out).to.deep.equal(['counted', 'duplicate']);
      expect(stats).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
      expect(now.called).to.equal(false);
    });

    it('gives every actor made from the logic its own state', () => {
      // Arrange
      const other = startCampaign({ id: 'c2', startTime: START, ttlMs: TTL });

      // Act
      campaign.impressions(START, ['u1']);
      const { out } = other.impressions(START, ['u1']);
      other.stop();

      // Assert
      expect(out).to.deep.equal(['counted']);
      expect(campaign.describe().total).to.equal(1);
    });
  });

  describe('idempotency keys', () => {
    const withId = (userId: string, impressionId: string) => ({ ...impression('c1', userId), impressionId });

    it('answers a retry with the same impression id with the first outcome, without counting it again', () => {
      // Arrange
      campaign.impressions(START, [withId('u1', 'imp-1')]);

      // Act: by TTL the user would count again, but this is the same impression retried.
      const { out } = campaign.impressions(START + TTL, [withId('u1', 'imp-1')]);

      // Assert
      expect(out).to.deep.equal(['replayed_counted']);
      expect(campaign.stats(START + TTL).total).to.equal(1);
    });

    it('answers a retried duplicate as a duplicate even once its user would count', () => {
      campaign.impressions(START, [withId('u1', 'imp-1'), withId('u1', 'imp-2')]);
      expect(campaign.impressions(START + TTL, [withId('u1', 'imp-2')]).out).to.deep.equal(['replayed_duplicate']);
      expect(campaign.stats(START + TTL).total).to.equal(1);
    });

    it('remembers an impression id for a day: replayed until a day − 1 ms, processed afresh at a day', () => {
      campaign.impressions(START, [withId('u1', 'imp-1')]);
      expect(campaign.impressions(START + IDEMPOTENCY_TTL_MS - 1, [withId('u1', 'imp-1')]).out).to.deep.equal(['replayed_counted']);
      expect(campaign.stats(START + IDEMPOTENCY_TTL_MS - 1).total).to.equal(1);
      expect(campaign.impressions(START + IDEMPOTENCY_TTL_MS, [withId('u1', 'imp-1')]).out).to.deep.equal(['counted']);
      expect(campaign.stats(START + IDEMPOTENCY_TTL_MS).total).to.equal(2);
    });
  });

  describe('stats', () => {
    it('answers last_hour, last_day and total at the time given', () => {
      campaign.impressions(START, userIds(3));
      campaign.impressions(START + 30 * MINUTE_MS, ['late-1']);

      expect(campaign.stats(START + 30 * MINUTE_MS)).to.deep.equal({ lastHour: 4, lastDay: 4, total: 4 });
      expect(campaign.stats(START + 59 * MINUTE_MS + 59_999)).to.deep.equal({ lastHour: 4, lastDay: 4, total: 4 });
      expect(campaign.stats(START + 60 * MINUTE_MS)).to.deep.equal({ lastHour: 1, lastDay: 4, total: 4 });
    });

    it('keeps total after both trailing windows have emptied', () => {
      campaign.impressions(START, userIds(5));
      expect(campaign.stats(START + 2 * 24 * HOUR_MS)).to.deep.equal({ lastHour: 0, lastDay: 0, total: 5 });
    });

    it('counts duplicates and not_started impressions nowhere', () => {
      campaign.impressions(START - 1, ['early']);
      campaign.impressions(START, ['u1', 'u1', 'u1']);
      expect(campaign.stats(START)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });

    it('replies with fresh values that later impressions do not change', () => {
      campaign.impressions(START, ['u1']);
      const before: Stats = campaign.stats(START);
      campaign.impressions(START, ['u2']);
      expect(before).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });
  });

  describe('describe and sweep', () => {
    it('describes its id, total, dedupe entries and bytes', () => {
      campaign.impressions(START, userIds(1_000));
      const d = campaign.describe();
      expect(d.id).to.equal('c1');
      expect(d.total).to.equal(1_000);
      expect(d.dedupeEntries).to.equal(1_000);
      expect(d.bytes).to.be.greaterThan(1_000 * 16);
    });

    it('costs only its fixed overhead (actor, entry, state object) before the first impression', () => {
      const d = campaign.describe();
      expect(d).to.deep.include({ id: 'c1', total: 0, dedupeEntries: 0 });
      expect(d.bytes).to.be.within(1_000, 10_000);
    });

    it('keeps live entries on a sweep before the TTL and frees them on a sweep at the TTL', () => {
      // Arrange
      campaign.impressions(START, userIds(1_000));
      const bytes = campaign.describe().bytes;

      // Act + Assert
      expect(campaign.sweep(START + TTL - 1, 1 << 20)).to.be.greaterThan(0);
      expect(campaign.describe().dedupeEntries).to.equal(1_000);
      expect(campaign.describe().bytes).to.equal(bytes);
      campaign.sweep(START + TTL, 1 << 20);
      expect(campaign.describe().dedupeEntries).to.equal(0);
      // The dedupe slots (16 bytes each at least) are gone; the minute ring and analytics stay.
      expect(bytes - campaign.describe().bytes).to.be.at.least(1_000 * 16);
    });

    it('keeps its windows in the analytics minutes alone: once the day is empty they read 0 and the analytics stay', () => {
      const idle = campaign.describe().bytes;
      campaign.impressions(START, userIds(10));
      campaign.sweep(START + 24 * HOUR_MS, 1 << 20);
      expect(campaign.describe()).to.deep.include({ id: 'c1', total: 10, dedupeEntries: 0 });
      expect(campaign.stats(START + 24 * HOUR_MS)).to.deep.include({ lastHour: 0, lastDay: 0, total: 10 });
      expect(campaign.describe().bytes).to.be.above(idle); // analytics keep the hour and day figures
    });
  });

  describe('journal', () => {
    it('records one counted fact per counted impression, with the user digest, in order', () => {
      // Arrange: the digest is the actor's scratch buffer, so a sink copies it during the call.
      const facts: [string, number, number[]][] = [];
      const journal: JournalSink = {
        created: () => {},
        counted: (campaignId, at, user) => facts.push([campaignId, at, [...user]]),
        remembered: () => {},
      };
      const actor = createActor(campaignLogic, { input: { info: campaignInfo('j1'), ttlMs: TTL, journal } });
      actor.start();

      // Act
      actor.send({ type: 'impressions', at: 5, items: ['u1', 'u1', 'u2'].map((u) => impression('j1', u)), indices: [0, 1, 2], out: [], done: () => {} });
      actor.stop();

      // Assert
      const digestOf = (user: string): number[] => {
        const d = new Uint32Array(4);
        hash128(user, d);
        return [...d];
      };
      expect(facts).to.deep.equal([
        ['j1', 5, digestOf('u1')],
        ['j1', 5, digestOf('u2')],
      ]);
    });
  });

  describe('replaying the journal', () => {
    const digest = (user: string): Uint32Array => {
      const d = new Uint32Array(4);
      hash128(user, d);
      return d;
    };
    const tally = (n: number) => new Uint8Array(3 * n).map((_, i) => (i % 3 === 2 ? TallyCode.counted : 0));
    const figures = (state: CampaignState, at: number) => ({
      total: state.total,
      lastHour: state.analytics?.lastHour(at),
      lastDay: state.analytics?.lastDay(at),
      counted1h: state.analytics?.report(at, '1h', false).campaign.counted,
    });

    it('counts the counted facts in last_hour and last_day like total, also when their tally was lost', () => {
      const state = newCampaignState({ info: campaignInfo('r1', { startTime: START }), ttlMs: TTL });
      for (const u of ['u1', 'u2', 'u3']) replayCounted(state, START, digest(u));
      state.analytics?.endReplay();
      expect(figures(state, START)).to.deep.include({ total: 3, lastHour: 3, lastDay: 3 });
      expect(figures(state, START + HOUR_MS)).to.deep.include({ total: 3, lastHour: 0, lastDay: 3 });
    });

    for (const order of ['tally after its facts', 'tally before its facts'] as const) {
      it(`counts each impression once when its tally survives (${order})`, () => {
        const state = newCampaignState({ info: campaignInfo('r2', { startTime: START }), ttlMs: TTL });
        const facts = () => ['u1', 'u2'].forEach((u) => replayCounted(state, START, digest(u)));
        if (order === 'tally after its facts') facts();
        analyticsOf(state).replayTallied(START, ['ad-1'], tally(2));
        if (order === 'tally before its facts') facts();
        state.analytics?.endReplay();
        expect(figures(state, START)).to.deep.equal({ total: 2, lastHour: 2, lastDay: 2, counted1h: 2 });
      });
    }
  });

  describe('crashes (what a supervisor relies on)', () => {
    it('stops with an error, leaves its message in flight, and answerInflight rolls the impression back and answers once', () => {
      // Arrange
      campaign.impressions(START, ['u1']);
      sinon.stub(CampaignAnalytics.prototype, 'countedAt').throws(new Error('boom'));
      const out = new Array<Outcome>(2).fill('unavailable');
      const done = sinon.spy();

      // Act
      campaign.ref.send({ type: 'impressions', at: START + 1, items: [impression('c1', 'u2'), impression('c1', 'u3')], indices: [0, 1], out, done });
      const snapshot = campaign.ref.getSnapshot() as CampaignSnapshot;
      const state = snapshot.context;
      const item = answerInflight(state);

      // Assert
      expect(snapshot.status).to.equal('error');
      expect(campaign.errors).to.have.length(1);
      expect(item).to.deep.equal(impression('c1', 'u2'));
      expect(done.callCount).to.equal(1);
      expect(out).to.deep.equal(['unavailable', 'unavailable']);
      expect(state.total).to.equal(1);
      expect(state.applying).to.equal(false);
      expect(state.inflight).to.equal(undefined);
      expect(state.dedupe.has('u2', START + 1)).to.equal(false);
      expect(state.dedupe.has('u1', START + 1)).to.equal(true);
    });

    it('rolls a crashed impression with a timestamp back out of the minute it happened, not the one it arrived in', () => {
      // Arrange: the journal fails as the count of an impression of 90 minutes ago is committed.
      const journal: JournalSink = {
        created: () => {},
        counted: () => {},
        remembered: () => {},
        countedAt: () => {
          throw new Error('boom');
        },
      };
      const actor = createActor(campaignLogic, { input: { info: campaignInfo('j2', { startTime: START }), ttlMs: TTL, journal } });
      actor.subscribe({ error: () => {} });
      actor.start();
      const arrival = START + 2 * HOUR_MS;
      const send = (items: ReturnType<typeof impression>[]) => actor.send({ type: 'impressions', at: arrival, items, indices: items.map((_, i) => i), out: [], done: () => {} });
      send([impression('j2', 'u1')]);

      // Act
      send([{ ...impression('j2', 'u2'), at: arrival - 90 * MINUTE_MS }]);
      const state = (actor.getSnapshot() as CampaignSnapshot).context;
      answerInflight(state);

      // Assert: u1 alone, in the minute of its arrival.
      expect(state.total).to.equal(1);
      expect(state.analytics?.lastHour(arrival)).to.equal(1);
      expect(state.analytics?.lastDay(arrival)).to.equal(1);
      expect(state.dedupe.has('u2', arrival)).to.equal(false);
    });

    it('keeps an impression whose commit is written in last_hour and last_day when the rest of analytics crashes after it', () => {
      // Arrange
      campaign.impressions(START, ['u1']);
      sinon.stub(CampaignAnalytics.prototype, 'tallied').throws(new Error('boom'));

      // Act
      campaign.ref.send({ type: 'impressions', at: START + 1, items: [impression('c1', 'u2')], indices: [0], out: ['unavailable'], done: () => {} });
      const state = (campaign.ref.getSnapshot() as CampaignSnapshot).context;
      answerInflight(state);

      // Assert: as counted as the journal says it is.
      expect(state.total).to.equal(2);
      expect(state.analytics?.lastHour(START + 1)).to.equal(2);
      expect(state.analytics?.lastDay(START + 1)).to.equal(2);
    });

    it('answers a stats message that crashed with undefined, and a sweep with 0', () => {
      // Arrange
      campaign.impressions(START, ['u1']);
      sinon.stub(CampaignAnalytics.prototype, 'lastHour').throws(new Error('boom'));
      sinon.stub(DedupeTable.prototype, 'sweep').throws(new Error('boom'));
      const statsReply = sinon.spy();
      const sweepReply = sinon.spy();
      const other = startCampaign({ id: 'c2' });

      // Act
      campaign.ref.send({ type: 'stats', at: START, reply: statsReply });
      answerInflight((campaign.ref.getSnapshot() as CampaignSnapshot).context);
      other.ref.send({ type: 'sweep', at: START, budget: 100, reply: sweepReply });
      answerInflight((other.ref.getSnapshot() as CampaignSnapshot).context);

      // Assert
      expect(statsReply.args).to.deep.equal([[undefined]]);
      expect(sweepReply.args).to.deep.equal([[0]]);
    });
  });
});

