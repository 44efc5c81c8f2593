import { expect } from 'chai';
import sinon from 'sinon';
import type { CampaignRef } from '../../actors/campaign/campaign.js';
import { systemClock, type Clock } from '../../actors/counting/clock.js';
import type { IngestResult, RegistryDescription, SupervisionReport } from '../../actors/registry/registry.js';
import { startCounterSystem, type CounterSystem, type CounterSystemOptions } from '../../actors/system.js';
import { CampaignAnalytics } from '../../actors/counting/analytics.js';
import { askNow, campaignInfo, impression, MINUTE_MS, userIds } from '../helpers/actors.js';

const TTL_MS = 1_000;
const TICK_MS = 100;

describe('counter system', () => {
  let clock: sinon.SinonFakeTimers;
  let system: CounterSystem | undefined;

  function start(overrides: Partial<CounterSystemOptions> = {}): CounterSystem {
    system = startCounterSystem({
      clock: systemClock,
      ttlMs: TTL_MS,
      tickMs: TICK_MS,
      sweepBudget: 1 << 20,
      supervision: { maxRestarts: 3, windowMs: MINUTE_MS },
      ...overrides,
    });
    return system;
  }

  const describeRegistry = (s: CounterSystem): RegistryDescription =>
    askNow<RegistryDescription>(s.registry, (reply) => ({ type: 'describe', reply }));

  const ingest = (s: CounterSystem, campaignId: string, users: string[]): IngestResult =>
    askNow<IngestResult>(s.registry, (reply) => ({
      type: 'impressions',
      at: s.clock.now(),
      items: users.map((u) => impression(campaignId, u)),
      reply,
    }));

  const create = (s: CounterSystem, id: string): void => {
    askNow(s.registry, (reply) => ({ type: 'campaign.create', info: campaignInfo(id), reply }));
  };

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0, toFake: ['Date', 'setInterval', 'clearInterval'] });
  });

  afterEach(() => {
    system?.stop();
    system = undefined;
    clock.restore();
    sinon.restore();
  });

  it('sweeps expired dedupe entries with its ticker: kept until the TTL, reclaimed at the first tick from it', () => {
    // Arrange
    const s = start();
    create(s, 'a');
    expect(ingest(s, 'a', userIds(2_000)).outcomes.every((o) => o === 'counted')).to.equal(true);
    const [before] = describeRegistry(s).children;

    // Act + Assert: ticks at 100 … 900 ms find nothing expired.
    clock.tick(TTL_MS - 1);
    expect(describeRegistry(s).children[0]).to.deep.include({ dedupeEntries: 2_000, bytes: before.bytes });

    // The tick at 1,000 ms (= TTL) reclaims every entry; the minute buckets and analytics remain.
    clock.tick(1);
    const [after] = describeRegistry(s).children;
    expect(after.dedupeEntries).to.equal(0);
    expect(before.bytes - after.bytes).to.be.at.least(2_000 * 16);
    expect(after.total).to.equal(2_000);
  });

  it('reclaims the memory of every campaign within a TTL plus a tick interval', () => {
    const s = start();
    for (const id of ['a', 'b', 'c']) {
      create(s, id);
      ingest(s, id, userIds(1_000));
    }

    clock.tick(TTL_MS + TICK_MS);

    expect(describeRegistry(s).children.map((c) => c.dedupeEntries)).to.deep.equal([0, 0, 0]);
  });

  it('counts a user again after the TTL whether or not the ticker has swept it', () => {
    const s = start({ tickMs: 60 * MINUTE_MS });
    create(s, 'a');
    ingest(s, 'a', ['u1']);

    clock.tick(TTL_MS - 1);
    expect(ingest(s, 'a', ['u1']).outcomes).to.deep.equal(['duplicate']);
    clock.tick(1);
    expect(ingest(s, 'a', ['u1']).outcomes).to.deep.equal(['counted']);
  });

  it('runs one ticker for the whole system, however many campaigns it holds', () => {
    const s = start();
    for (let i = 0; i < 50; i++) create(s, `c${i}`);
    expect(clock.countTimers()).to.equal(1);
  });

  it('stamps each tick with the injected clock', () => {
    // Arrange
    let now = 5_000_000;
    const fixed: Clock = { now: () => now };
    const s = start({ clock: fixed });
    const send = sinon.spy(s.registry, 'send');

    // Act
    clock.tick(TICK_MS);
    now = 6_000_000;
    clock.tick(TICK_MS);

    // Assert
    expect(send.args.map(([event]) => event)).to.deep.equal([
      { type: 'tick', at: 5_000_000 },
      { type: 'tick', at: 6_000_000 },
    ]);
  });

  it('hands supervision reports to onSupervision', () => {
    // Arrange
    const reports: SupervisionReport[] = [];
    const s = start({ onSupervision: (r) => reports.push(r) });
    create(s, 'a');
    sinon.stub(CampaignAnalytics.prototype, 'countedAt').onFirstCall().throws(new Error('boom'));

    // Act
    const result = ingest(s, 'a', ['u1']);

    // Assert
    expect(result.outcomes).to.deep.equal(['unavailable']);
    expect(reports.map((r) => [r.campaignId, r.decision])).to.deep.equal([['a', 'restart']]);
  });

  it('reports a failing registry to onFatal instead of crashing the process', () => {
    // Arrange
    const fatal = sinon.spy();
    const s = start({ onFatal: fatal });

    // Act: an event the registry cannot handle makes its own transition throw.
    s.registry.send({ type: 'impressions', at: 0, items: null as never, reply: () => {} });

    // Assert
    expect(fatal.callCount).to.equal(1);
    expect(fatal.firstCall.args[0]).to.be.instanceOf(TypeError);
    expect(s.registry.getSnapshot().status).to.equal('error');
  });

  it('stop() stops the ticker, every campaign actor and the registry, and does not throw when repeated', () => {
    // Arrange
    const s = start();
    create(s, 'a');
    ingest(s, 'a', ['u1']);
    const campaign = s.registry.system.get('campaign:a') as CampaignRef;
    const send = sinon.spy(s.registry, 'send');
    const replies = sinon.spy();

    // Act
    expect(() => s.stop()).not.to.throw();
    expect(() => s.stop()).not.to.throw();
    clock.tick(10 * TICK_MS);
    s.registry.send({ type: 'describe', reply: replies });
    campaign.send({ type: 'describe', reply: replies });

    // Assert
    expect(clock.countTimers()).to.equal(0);
    expect(send.args.filter(([event]) => event.type === 'tick')).to.deep.equal([]);
    expect(replies.called).to.equal(false);
    expect(s.registry.system.get('campaign:a')).to.equal(undefined);
  });
});
