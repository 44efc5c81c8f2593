import { expect } from 'chai';
import sinon from 'sinon';
import type { CampaignRef } from '../../../actors/campaign/campaign.js';
import { DedupeTable } from '../../../actors/counting/dedupe.js';
import type { Impression, ImpressionsEvent } from '../../../actors/protocol.js';
import type { DeadLetterReport } from '../../../actors/registry/registry.js';
import { CampaignAnalytics } from '../../../actors/counting/analytics.js';
import { HOUR_MS, impression, MINUTE_MS, startRegistry, userIds, type RegistryHarness } from '../../helpers/actors.js';

const TTL = HOUR_MS;
const T0 = 1_000;

const a = (userId: string): Impression => impression('a', userId);
const b = (userId: string): Impression => impression('b', userId);

describe('registry actor', () => {
  let h: RegistryHarness;

  afterEach(() => {
    sinon.restore();
    h.stop();
  });

  describe('campaigns', () => {
    beforeEach(() => {
      h = startRegistry();
    });

    it('creates a campaign and answers with its info', () => {
      const info = h.create('a', { name: 'spring', startTime: 5_000 });
      expect(info).to.deep.equal({ id: 'a', name: 'spring', startTime: 5_000, createdAt: 0 });
      expect(h.get('a')).to.deep.equal(info);
    });

    it('is get-or-create: creating the same id again answers the first info and keeps the first actor', () => {
      // Arrange
      const first = h.create('a', { name: 'first' });
      const actor = h.campaignActor('a');
      h.ingest(T0, [a('u1')]);

      // Act
      const second = h.create('a', { name: 'second', startTime: 99_999 });

      // Assert
      expect(second).to.deep.equal(first);
      expect(h.campaignActor('a')).to.equal(actor);
      expect(h.list(0, 10).campaigns).to.have.length(1);
      expect(h.stats('a', T0)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });

    it('answers undefined when getting an unknown campaign', () => {
      expect(h.get('nope')).to.equal(undefined);
    });

    it('registers each campaign actor under the system id campaign:<id>', () => {
      h.create('a');
      h.create('b');
      const actor = h.campaignActor('a');
      expect(actor).to.not.equal(undefined);
      expect(actor).to.not.equal(h.campaignActor('b'));
      expect((actor as CampaignRef).getSnapshot().status).to.equal('active');
    });

    it('lists campaigns in creation order, a page at a time with after, limit and next', () => {
      // Arrange
      for (const id of ['c0', 'c1', 'c2', 'c3', 'c4']) h.create(id);
      const ids = (page: { campaigns: { id: string }[] }) => page.campaigns.map((c) => c.id);

      // Act
      const page1 = h.list(0, 2);
      const page2 = h.list(page1.next as number, 2);
      const page3 = h.list(page2.next as number, 2);

      // Assert
      expect([ids(page1), page1.next]).to.deep.equal([['c0', 'c1'], 2]);
      expect([ids(page2), page2.next]).to.deep.equal([['c2', 'c3'], 4]);
      expect([ids(page3), page3.next]).to.deep.equal([['c4'], undefined]);
    });

    it('omits next on a page that ends exactly at the last campaign, and answers an empty page past the end', () => {
      for (const id of ['c0', 'c1', 'c2']) h.create(id);
      expect(h.list(0, 3).next).to.equal(undefined);
      expect(h.list(1, 2).next).to.equal(undefined);
      expect(h.list(3, 2)).to.deep.equal({ campaigns: [], next: undefined });
      expect(h.list(10, 2)).to.deep.equal({ campaigns: [], next: undefined });
    });
  });

  describe('impressions', () => {
    beforeEach(() => {
      h = startRegistry();
      h.create('a');
      h.create('b');
    });

    it('answers not_found for an unknown campaign, alone or in a batch', () => {
      expect(h.record(T0, 'nope', 'u1')).to.equal('not_found');
      expect(h.ingest(T0, [a('u1'), impression('nope', 'u1'), b('u1')]).outcomes).to.deep.equal(['counted', 'not_found', 'counted']);
    });

    it('counts, drops duplicates and answers not_started, each item in its place', () => {
      h.create('later', { startTime: T0 + 1 });
      const result = h.ingest(T0, [a('u1'), impression('later', 'u1'), a('u1'), a('u2')]);
      expect(result).to.deep.equal({ outcomes: ['counted', 'not_started', 'duplicate', 'counted'], retryAfterMs: 0 });
    });

    it('dedupes per campaign: the same user counts once in each campaign', () => {
      expect(h.ingest(T0, [a('u1'), b('u1'), a('u1'), b('u1')]).outcomes).to.deep.equal(['counted', 'counted', 'duplicate', 'duplicate']);
      expect(h.stats('a', T0)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
      expect(h.stats('b', T0)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });

    it('sends exactly one message per campaign for a batch spanning several, and answers it in order', () => {
      // Arrange
      const sendA = sinon.spy(h.campaignActor('a') as CampaignRef, 'send');
      const sendB = sinon.spy(h.campaignActor('b') as CampaignRef, 'send');
      const batch = [a('u1'), b('u1'), a('u2'), impression('nope', 'u1'), b('u1'), a('u1')];
      const replies = sinon.spy();

      // Act
      h.registry.send({ type: 'impressions', at: T0, items: batch, reply: replies });

      // Assert
      expect(replies.callCount).to.equal(1);
      expect(replies.firstCall.args[0]).to.deep.equal({
        outcomes: ['counted', 'counted', 'counted', 'not_found', 'duplicate', 'duplicate'],
        retryAfterMs: 0,
      });
      expect(sendA.callCount).to.equal(1);
      expect(sendB.callCount).to.equal(1);
      const messageA = sendA.firstCall.args[0] as ImpressionsEvent;
      expect(messageA.type).to.equal('impressions');
      expect(messageA.items.map((i) => i.userId)).to.deep.equal(['u1', 'u2', 'u1']);
      expect(messageA.indices).to.deep.equal([0, 2, 5]);
    });

    it('answers a batch of 10,000 items over 100 campaigns with one message each', () => {
      // Arrange
      const ids = Array.from({ length: 100 }, (_, i) => `k${i}`);
      for (const id of ids) h.create(id);
      const sends = ids.map((id) => sinon.spy(h.campaignActor(id) as CampaignRef, 'send'));
      const batch = Array.from({ length: 10_000 }, (_, i) => impression(ids[i % 100], `u${i % 5_000}`));

      // Act
      const { outcomes } = h.ingest(T0, batch);

      // Assert
      expect(sends.map((s) => s.callCount)).to.deep.equal(ids.map(() => 1));
      expect(outcomes.slice(0, 5_000).every((o) => o === 'counted')).to.equal(true);
      expect(outcomes.slice(5_000).every((o) => o === 'duplicate')).to.equal(true);
    });

    it('answers an empty batch with no outcomes', () => {
      expect(h.ingest(T0, [])).to.deep.equal({ outcomes: [], retryAfterMs: 0 });
    });
  });

  describe('stats', () => {
    beforeEach(() => {
      h = startRegistry();
      h.create('a');
    });

    it('answers a campaign’s stats at the event time', () => {
      h.ingest(T0, [a('u1'), a('u2')]);
      expect(h.stats('a', T0 + 59 * MINUTE_MS)).to.deep.equal({ lastHour: 2, lastDay: 2, total: 2 });
      expect(h.stats('a', 60 * MINUTE_MS)).to.deep.equal({ lastHour: 0, lastDay: 2, total: 2 });
    });

    it('answers not_found for an unknown campaign', () => {
      expect(h.stats('nope', T0)).to.deep.equal({ error: 'not_found' });
    });
  });

  describe('ticks (sweeping expired dedupe entries)', () => {
    it('keeps entries on a tick before the TTL and frees them on a tick at the TTL', () => {
      // Arrange
      h = startRegistry();
      h.create('a');
      h.create('b');
      h.ingest(0, [...userIds(500).map(a), ...userIds(300).map(b)]);
      const entries = (): number[] => h.describe().children.map((c) => c.dedupeEntries);

      // Act + Assert
      h.tick(TTL - 1);
      expect(entries()).to.deep.equal([500, 300]);
      h.tick(TTL);
      expect(entries()).to.deep.equal([0, 0]);
      expect(h.stats('a', TTL)).to.deep.equal({ lastHour: 0, lastDay: 500, total: 500 });
    });

    it('spreads the work over ticks round-robin within the slot budget, and finishes it', () => {
      // Arrange: campaigns large enough to be split into shards (a small one is swept whole).
      const N = 20_000;
      h = startRegistry({ sweepBudget: 100 });
      for (const id of ['a', 'b', 'c']) {
        h.create(id);
        h.ingest(0, userIds(N).map((u) => impression(id, u)));
      }
      const entries = (): number[] => h.describe().children.map((c) => c.dedupeEntries);

      // Act + Assert: a tick's budget is shared, so each tick reaches one campaign, a little of it.
      h.tick(TTL);
      const [a1, b1, c1] = entries();
      expect(a1).to.be.within(N - 1_000, N - 1);
      expect([b1, c1]).to.deep.equal([N, N]);
      h.tick(TTL);
      expect(entries()[1]).to.be.lessThan(N);
      expect(entries()[2]).to.equal(N);
      h.tick(TTL);
      expect(entries()[2]).to.be.lessThan(N);
      let ticks = 3;
      while (entries().some((n) => n > 0) && ticks < 10_000) {
        h.tick(TTL);
        ticks++;
      }
      expect(entries()).to.deep.equal([0, 0, 0]);
    });
  });

  describe('describe and shutdown', () => {
    it('describes the campaigns, the suspended ones, the restarts and each child', () => {
      h = startRegistry();
      h.create('a');
      h.create('b');
      h.ingest(T0, [a('u1'), a('u2'), b('u1')]);

      const d = h.describe();

      expect([d.campaigns, d.suspended, d.restarts]).to.deep.equal([2, 0, 0]);
      expect(d.children.map((c) => [c.id, c.total, c.dedupeEntries])).to.deep.equal([
        ['a', 2, 2],
        ['b', 1, 1],
      ]);
    });

    it('stops every campaign actor on shutdown: they leave the system and answer nothing more', () => {
      // Arrange
      h = startRegistry();
      h.create('a');
      h.create('b');
      const actors = [h.campaignActor('a'), h.campaignActor('b')] as CampaignRef[];
      const replies = sinon.spy();

      // Act
      h.registry.send({ type: 'shutdown' });
      for (const actor of actors) actor.send({ type: 'describe', reply: replies });

      // Assert
      expect(h.campaignActor('a')).to.equal(undefined);
      expect(h.campaignActor('b')).to.equal(undefined);
      expect(replies.called).to.equal(false);
    });
  });

  describe('supervision', () => {
    it('restart: a throw while applying answers the item unavailable, rolls it back, restarts with the counts and keeps serving', () => {
      // Arrange
      h = startRegistry({ supervision: { maxRestarts: 3, windowMs: MINUTE_MS } });
      h.create('a');
      h.create('b');
      h.ingest(T0, [a('u1'), a('u2')]);
      const crashed = h.campaignActor('a');
      const add = sinon.stub(CampaignAnalytics.prototype, 'countedAt').callThrough();
      add.onFirstCall().throws(new Error('boom'));

      // Act
      const result = h.ingest(T0 + 1, [a('u3'), b('u1'), a('u4')]);

      // Assert: one answer, in order; the crashed campaign's items unavailable, the other's counted.
      expect(result).to.deep.equal({ outcomes: ['unavailable', 'counted', 'unavailable'], retryAfterMs: 1_000 });
      expect(h.reports).to.have.length(1);
      expect(h.reports[0]).to.deep.include({ type: 'supervision', campaignId: 'a', decision: 'restart', restartsInWindow: 1 });
      expect((h.reports[0].error as Error).message).to.equal('boom');
      expect(h.campaignActor('a')).to.not.equal(crashed);
      expect(h.stats('a', T0 + 2)).to.deep.equal({ lastHour: 2, lastDay: 2, total: 2 });
      expect(h.ingest(T0 + 3, [a('u3'), a('u4'), a('u1')]).outcomes).to.deep.equal(['counted', 'counted', 'duplicate']);
      expect(h.stats('a', T0 + 3)).to.deep.equal({ lastHour: 4, lastDay: 4, total: 4 });
      expect(h.fatal).to.deep.equal([]);
    });

    it('restart also when admitting to the dedupe table throws, and the retry counts', () => {
      h = startRegistry();
      h.create('a');
      sinon.stub(DedupeTable.prototype, 'admitDigest').callThrough().onFirstCall().throws(new Error('boom'));

      expect(h.record(T0, 'a', 'u1')).to.equal('unavailable');
      expect(h.reports.map((r) => r.decision)).to.deep.equal(['restart']);
      expect(h.record(T0 + 1, 'a', 'u1')).to.equal('counted');
      expect(h.stats('a', T0 + 1)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });

    it('leaves an impression wholly applied or not at all when it crashes while remembering its impression id', () => {
      // Arrange: the second admitDigest of an impression with an id is the id's, after the count.
      h = startRegistry();
      h.create('a');
      sinon.stub(DedupeTable.prototype, 'admitDigest').callThrough().onSecondCall().throws(new Error('boom'));
      const retried: Impression = { ...a('u1'), impressionId: 'imp-1' };

      // Act
      const first = h.ingest(T0, [retried]).outcomes[0];
      const retry = h.ingest(T0 + 1, [retried]).outcomes[0];

      // Assert: either rolled back (the retry counts) or recorded (the retry replays `counted`);
      // a retry of an impression that was counted must never read `duplicate`.
      expect(first).to.equal('unavailable');
      expect(h.reports.map((r) => r.decision)).to.deep.equal(['restart']);
      expect(retry).to.equal('counted');
      expect(h.stats('a', T0 + 1)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });

    it('resume: a throw outside applying (during stats) answers unavailable, restarts with the counts intact', () => {
      // Arrange
      h = startRegistry();
      h.create('a');
      h.ingest(T0, [a('u1'), a('u2')]);
      sinon.stub(CampaignAnalytics.prototype, 'lastHour').callThrough().onFirstCall().throws(new Error('boom'));

      // Act
      const crashedStats = h.stats('a', T0 + 1);

      // Assert
      expect(crashedStats).to.deep.equal({ error: 'unavailable', retryAfterMs: 1_000 });
      expect(h.reports).to.have.length(1);
      expect(h.reports[0]).to.deep.include({ campaignId: 'a', decision: 'resume', restartsInWindow: 1 });
      expect(h.stats('a', T0 + 2)).to.deep.equal({ lastHour: 2, lastDay: 2, total: 2 });
      expect(h.record(T0 + 3, 'a', 'u2')).to.equal('duplicate');
      expect(h.record(T0 + 3, 'a', 'u3')).to.equal('counted');
      expect(h.describe().restarts).to.equal(1);
    });

    it('escalate: fails itself with an error from an actor it does not supervise, so its owner decides', () => {
      h = startRegistry();
      h.create('a');
      const error = new Error('not a campaign of ours');

      h.registry.send({ type: 'xstate.error.actor.campaign:nope', error, actorId: 'campaign:nope' });

      expect(h.fatal).to.deep.equal([error]);
      expect(h.reports).to.deep.equal([]);
    });

    it('does not let one campaign’s crash touch another campaign', () => {
      h = startRegistry();
      h.create('a');
      h.create('b');
      h.ingest(T0, [a('u1'), b('u1')]);
      const bActor = h.campaignActor('b');
      sinon.stub(CampaignAnalytics.prototype, 'lastHour').callThrough().onFirstCall().throws(new Error('boom'));

      h.stats('a', T0);

      expect(h.campaignActor('b')).to.equal(bActor);
      expect(h.stats('b', T0)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
      expect(h.reports.map((r) => r.campaignId)).to.deep.equal(['a']);
    });

    describe('restart intensity', () => {
      const windowMs = MINUTE_MS;

      /** Crashes campaign `a` once per time given, each on an impression of a new user. */
      function crashAt(...times: number[]): void {
        const add = sinon.stub(CampaignAnalytics.prototype, 'countedAt').throws(new Error('boom'));
        times.forEach((t, i) => h.record(t, 'a', `crash-${t}-${i}`));
        add.restore();
      }

      beforeEach(() => {
        h = startRegistry({ supervision: { maxRestarts: 2, windowMs } });
        h.create('a');
        h.ingest(T0, [a('u1'), a('u2')]);
      });

      it('stops a campaign after more than maxRestarts within windowMs, answering unavailable with retryAfterMs', () => {
        // Arrange
        const add = sinon.stub(CampaignAnalytics.prototype, 'countedAt').throws(new Error('boom'));
        h.record(2_000, 'a', 'x1');
        h.record(3_000, 'a', 'x2');

        // Act
        const third = h.ingest(4_000, [a('x3')]);
        add.restore();

        // Assert
        expect(h.reports.map((r) => [r.decision, r.restartsInWindow])).to.deep.equal([
          ['restart', 1],
          ['restart', 2],
          ['stop', 3],
        ]);
        expect(third).to.deep.equal({ outcomes: ['unavailable'], retryAfterMs: windowMs });
        expect(h.ingest(4_001, [a('u9'), a('u1')])).to.deep.equal({ outcomes: ['unavailable', 'unavailable'], retryAfterMs: windowMs - 1 });
        expect(h.stats('a', 5_000)).to.deep.equal({ error: 'unavailable', retryAfterMs: windowMs - 1_000 });
        expect(h.campaignActor('a')).to.equal(undefined);
        expect(h.describe()).to.deep.include({ campaigns: 1, suspended: 1, restarts: 3 });
      });

      it('stays suspended until the window has passed, then resumes with its counts (both sides of the edge)', () => {
        // Arrange: suspended at 4,000 until 64,000.
        crashAt(2_000, 3_000, 4_000);
        const until = 4_000 + windowMs;

        // Act + Assert
        expect(h.stats('a', until - 1)).to.deep.equal({ error: 'unavailable', retryAfterMs: 1_000 });
        expect(h.record(until - 1, 'a', 'u9')).to.equal('unavailable');
        expect(h.stats('a', until)).to.deep.equal({ lastHour: 2, lastDay: 2, total: 2 });
        expect(h.record(until, 'a', 'u1')).to.equal('duplicate');
        expect(h.record(until, 'a', 'crash-4000-2')).to.equal('counted');
        expect(h.record(until, 'a', 'u9')).to.equal('counted');
        expect(h.stats('a', until)).to.deep.equal({ lastHour: 4, lastDay: 4, total: 4 });
        expect(h.describe().suspended).to.equal(0);
        expect(h.reports).to.have.length(3);
      });

      it('resumes a suspended campaign on a tick past the window too', () => {
        crashAt(2_000, 3_000, 4_000);

        h.tick(4_000 + windowMs - 1);
        expect(h.campaignActor('a')).to.equal(undefined);
        h.tick(4_000 + windowMs);

        expect(h.campaignActor('a')).to.not.equal(undefined);
        expect(h.describe().suspended).to.equal(0);
      });

      it('forgets restarts older than the window: crashes windowMs apart never suspend', () => {
        crashAt(10_000, 10_000 + windowMs, 10_000 + 2 * windowMs, 10_000 + 3 * windowMs);

        expect(h.reports.map((r) => r.decision)).to.deep.equal(['restart', 'restart', 'restart', 'restart']);
        expect(h.reports.map((r) => r.restartsInWindow)).to.deep.equal([1, 1, 1, 1]);
      });

      it('counts a restart windowMs − 1 ms old towards suspension', () => {
        crashAt(10_000, 10_001, 10_000 + windowMs - 1);

        expect(h.reports.map((r) => r.decision)).to.deep.equal(['restart', 'restart', 'stop']);
      });

      it('no longer counts a restart exactly windowMs old', () => {
        crashAt(10_000, 10_001, 10_000 + windowMs);

        expect(h.reports.map((r) => r.decision)).to.deep.equal(['restart', 'restart', 'restart']);
        expect(h.reports.map((r) => r.restartsInWindow)).to.deep.equal([1, 2, 2]);
      });
    });

    it('sets aside an impression that crashed its campaign twice as a dead letter, and keeps the rest of the batch', () => {
      // Arrange
      h = startRegistry({ supervision: { maxRestarts: 10, windowMs: MINUTE_MS } });
      const deadLetters: DeadLetterReport[] = [];
      h.registry.on('dead_letter', (r) => deadLetters.push(r));
      h.create('a');
      const add = sinon.stub(CampaignAnalytics.prototype, 'countedAt').throws(new Error('poison'));

      // Act
      const first = h.record(T0, 'a', 'p');
      const second = h.record(T0 + 1, 'a', 'p');
      add.restore();
      const later = h.ingest(T0 + 2, [a('p'), a('u1')]);

      // Assert
      expect([first, second]).to.deep.equal(['unavailable', 'unavailable']);
      expect(deadLetters).to.have.length(1);
      expect(deadLetters[0]).to.deep.include({ type: 'dead_letter', campaignId: 'a', impression: a('p') });
      expect(later.outcomes).to.deep.equal(['dead_letter', 'counted']);
      expect(h.stats('a', T0 + 2)).to.deep.equal({ lastHour: 1, lastDay: 1, total: 1 });
    });
  });
});
