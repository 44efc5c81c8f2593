import { expect } from 'chai';
import { createActor } from 'xstate';
import type { CampaignInfo, CampaignPage, CampaignStore, Impression, ImpressionGroup, ImpressionsEvent, Outcome, RecordsFailure, Stats } from '../../../actors/protocol.js';
import { MAX_PENDING_LOOKUPS, registryLogic, type ForwardResult, type IngestResult, type RegistryRef, type StatsResult } from '../../../actors/registry/registry.js';
import { remoteCampaignLogic, type RemoteCampaignLogic, type RemoteCampaignRef } from '../../../actors/remote-campaign/remote-campaign.js';
import { campaignInfo, impression } from '../../helpers/actors.js';

/** A store whose calls (lookups included) stay pending until the test settles them, recording what each call carried. */
class ManualStore implements CampaignStore {
  readonly calls: { campaignId: string; groups: readonly ImpressionGroup[]; settle: (outcomes: Outcome[] | Error) => void }[] = [];
  readonly reads: { campaignId: string; at: number; settle: (r: Stats | 'not_found' | Error) => void }[] = [];

  readonly lookups: { ids: readonly string[]; settle: (r: boolean[] | Error) => void }[] = [];
  /** Campaign records; an id the store says exists and that was never created reads as created at 0. */
  readonly records = new Map<string, CampaignInfo>();
  /** Set to make every records call fail. */
  down: Error | undefined;

  create(info: CampaignInfo): Promise<CampaignInfo> {
    if (this.down) return Promise.reject(this.down);
    this.records.set(info.id, info);
    return Promise.resolve(info);
  }

  get(id: string): Promise<CampaignInfo | undefined> {
    return this.down ? Promise.reject(this.down) : Promise.resolve(this.records.get(id) ?? { ...campaignInfo(id), createdAt: 0 });
  }

  list(after: number, limit: number): Promise<CampaignPage> {
    const all = [...this.records.values()];
    return this.down ? Promise.reject(this.down) : Promise.resolve({ campaigns: all.slice(after, after + limit), next: after + limit < all.length ? after + limit : undefined });
  }

  exists(ids: readonly string[]): Promise<boolean[]> {
    return new Promise((resolve, reject) => {
      this.lookups.push({ ids, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  ingest(campaignId: string, groups: readonly ImpressionGroup[]): Promise<Outcome[]> {
    return new Promise((resolve, reject) => {
      this.calls.push({ campaignId, groups, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  stats(campaignId: string, at: number): Promise<Stats | 'not_found'> {
    return new Promise((resolve, reject) => {
      this.reads.push({ campaignId, at, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }
}

/** Lets settled promises deliver their results to the actor. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Sent {
  readonly out: Outcome[];
  done: number;
}

function send(ref: RemoteCampaignRef, at: number, users: string[]): Sent {
  const items: Impression[] = users.map((u) => impression('c1', u));
  const sent: Sent = { out: new Array<Outcome>(items.length).fill('unavailable'), done: 0 };
  const event: ImpressionsEvent = { type: 'impressions', at, items, indices: items.map((_, i) => i), out: sent.out, done: () => sent.done++ };
  ref.send(event);
  return sent;
}

describe('actors/remote-campaign', () => {
  let store: ManualStore;
  let ref: RemoteCampaignRef;
  let logic: RemoteCampaignLogic;
  const retirable = (r: RemoteCampaignRef): boolean => logic.retirable(r.getSnapshot().context);

  function start(limits: { maxItemsPerCall?: number; maxQueuedItems?: number } = {}): void {
    store = new ManualStore();
    logic = remoteCampaignLogic({ store, maxItemsPerCall: limits.maxItemsPerCall ?? 1000, maxQueuedItems: limits.maxQueuedItems ?? 10_000 });
    ref = createActor(logic, { input: { info: campaignInfo('c1'), ttlMs: 1000 } });
    ref.start();
  }

  afterEach(() => ref?.stop());

  it('sends a message at once when idle, and answers it with the outcomes the store gives', async () => {
    start();
    const a = send(ref, 5, ['u1', 'u2']);
    expect(store.calls).to.have.length(1);
    expect(store.calls[0].campaignId).to.equal('c1');
    expect(store.calls[0].groups.map((g) => [g.at, g.items.map((i) => i.userId)])).to.deep.equal([[5, ['u1', 'u2']]]);
    expect(a.done).to.equal(0);
    store.calls[0].settle(['counted', 'duplicate']);
    await flush();
    expect(a).to.deep.equal({ out: ['counted', 'duplicate'], done: 1 });
  });

  it('holds messages that arrive during a call and sends them all as one next call, each answered in place', async () => {
    start();
    const a = send(ref, 1, ['u1']);
    const b = send(ref, 2, ['u2', 'u3']);
    const c = send(ref, 2, ['u4']);
    expect(store.calls).to.have.length(1);
    store.calls[0].settle(['counted']);
    await flush();
    expect(a.done).to.equal(1);
    expect(store.calls).to.have.length(2);
    expect(store.calls[1].groups.map((g) => [g.at, g.items.map((i) => i.userId)])).to.deep.equal([
      [2, ['u2', 'u3']],
      [2, ['u4']],
    ]);
    store.calls[1].settle(['duplicate', 'counted', 'not_started']);
    await flush();
    expect(b).to.deep.equal({ out: ['duplicate', 'counted'], done: 1 });
    expect(c).to.deep.equal({ out: ['not_started'], done: 1 });
  });

  it('caps the items of one call, but never splits a message', async () => {
    start({ maxItemsPerCall: 2 });
    send(ref, 1, ['u0']);
    send(ref, 1, ['u1']);
    send(ref, 1, ['u2']);
    send(ref, 1, ['u3', 'u4', 'u5']);
    store.calls[0].settle(['counted']);
    await flush();
    expect(store.calls[1].groups.flatMap((g) => g.items.map((i) => i.userId))).to.deep.equal(['u1', 'u2']);
    store.calls[1].settle(['counted', 'counted']);
    await flush();
    expect(store.calls[2].groups.flatMap((g) => g.items.map((i) => i.userId))).to.deep.equal(['u3', 'u4', 'u5']);
  });

  it('answers every item of a failed call unavailable, then goes on with the next call', async () => {
    start();
    const a = send(ref, 1, ['u1', 'u2']);
    const b = send(ref, 1, ['u3']);
    store.calls[0].settle(new Error('timed out'));
    await flush();
    expect(a).to.deep.equal({ out: ['unavailable', 'unavailable'], done: 1 });
    expect(b.done).to.equal(0);
    store.calls[1].settle(['counted']);
    await flush();
    expect(b).to.deep.equal({ out: ['counted'], done: 1 });
  });

  it('refuses a message at once, unavailable, when the items waiting would exceed the bound', async () => {
    start({ maxQueuedItems: 3 });
    send(ref, 1, ['u0']);
    const waiting = send(ref, 1, ['u1', 'u2', 'u3']);
    const refused = send(ref, 1, ['u4']);
    expect(refused).to.deep.equal({ out: ['unavailable'], done: 1 });
    expect(waiting.done).to.equal(0);
    store.calls[0].settle(['counted']);
    await flush();
    store.calls[1].settle(['counted', 'counted', 'counted']);
    await flush();
    expect(waiting).to.deep.equal({ out: ['counted', 'counted', 'counted'], done: 1 });
  });

  it('answers stats with what the store read, not_found as such, and undefined when the store failed', async () => {
    start();
    const replies: unknown[] = [];
    for (let i = 0; i < 3; i++) ref.send({ type: 'stats', at: 7, reply: (s) => replies.push(s) });
    expect(store.reads.map((r) => r.at)).to.deep.equal([7, 7, 7]);
    store.reads[0].settle({ lastHour: 1, lastDay: 2, total: 3 });
    store.reads[1].settle('not_found');
    store.reads[2].settle(new Error('down'));
    await flush();
    expect(replies).to.deep.equal([{ lastHour: 1, lastDay: 2, total: 3 }, 'not_found', undefined]);
  });

  it('is retirable only once the store says the campaign does not exist and nothing is on its way', async () => {
    start();
    expect(retirable(ref)).to.equal(false);
    send(ref, 1, ['u1']);
    store.calls[0].settle(['not_found']);
    await flush();
    expect(retirable(ref)).to.equal(true);
    send(ref, 1, ['u1']);
    expect(retirable(ref)).to.equal(false);
    store.calls[1].settle(['counted']);
    await flush();
    expect(retirable(ref)).to.equal(false);
  });

  describe('as the child of a registry', () => {
    let registry: RegistryRef;
    afterEach(() => registry?.stop());

    function startRegistry(): void {
      store = new ManualStore();
      const remote = remoteCampaignLogic({ store, maxItemsPerCall: 1000, maxQueuedItems: 10_000 });
      registry = createActor(registryLogic, { input: { ttlMs: 1000, supervision: { maxRestarts: 5, windowMs: 60_000 }, sweepBudget: 65_536, child: remote } });
      registry.subscribe({ error: () => undefined });
      registry.start();
    }

    const actors = (): string[] => [...registry.getSnapshot().context.campaigns.keys()].sort();
    const ingest = (items: Impression[]): { result?: IngestResult } => {
      const box: { result?: IngestResult } = {};
      registry.send({ type: 'impressions', at: 3, items, reply: (r) => (box.result = r) });
      return box;
    };

    it('asks the store about ids it has not seen, once per message, and makes actors only for campaigns it has', async () => {
      startRegistry();
      const sent = ingest([impression('a', 'u1'), impression('ghost', 'u1'), impression('a', 'u2')]);
      expect(store.lookups.map((l) => l.ids)).to.deep.equal([['a', 'ghost']]);
      expect(store.calls, 'nothing is counted before the lookup answers').to.have.length(0);
      expect(actors()).to.deep.equal([]);
      store.lookups[0].settle([true, false]);
      await flush();
      expect(actors()).to.deep.equal(['a']);
      expect(store.calls.map((c) => [c.campaignId, c.groups[0].items.length])).to.deep.equal([['a', 2]]);
      expect(sent.result, 'the batch waits for its last campaign').to.equal(undefined);
      store.calls[0].settle(['counted', 'duplicate']);
      await flush();
      expect(sent.result).to.deep.equal({ outcomes: ['counted', 'not_found', 'duplicate'], retryAfterMs: 0 });
      // Known now: no second lookup.
      ingest([impression('a', 'u3')]);
      expect(store.lookups).to.have.length(1);
      expect(store.calls).to.have.length(2);
    });

    it('creates, gets and lists campaigns in the store, and serves a created campaign without a lookup', async () => {
      startRegistry();
      const spring = { id: 'spring', name: 'Spring', startTime: 5, createdAt: 2 };
      const answers: unknown[] = [];
      registry.send({ type: 'campaign.create', info: spring, reply: (r) => answers.push(r) });
      await flush();
      registry.send({ type: 'campaign.get', id: 'spring', reply: (r) => answers.push(r) });
      registry.send({ type: 'campaign.list', after: 0, limit: 10, reply: (r) => answers.push(r) });
      await flush();
      expect(answers).to.deep.equal([spring, spring, { campaigns: [spring], next: undefined }]);
      expect(store.records.get('spring')).to.deep.equal(spring);
      expect(actors()).to.deep.equal(['spring']);
      ingest([impression('spring', 'u1')]);
      expect(store.lookups).to.have.length(0);
      expect(store.calls).to.have.length(1);
    });

    it('answers a records call the store failed with its error, and makes no actor', async () => {
      startRegistry();
      store.down = new Error('store down');
      const answers: (RecordsFailure | unknown)[] = [];
      registry.send({ type: 'campaign.create', info: campaignInfo('c'), reply: (r) => answers.push(r) });
      registry.send({ type: 'campaign.get', id: 'c', reply: (r) => answers.push(r) });
      registry.send({ type: 'campaign.list', after: 0, limit: 10, reply: (r) => answers.push(r) });
      await flush();
      expect(answers).to.deep.equal([{ failed: store.down }, { failed: store.down }, { failed: store.down }]);
      expect(actors()).to.deep.equal([]);
    });

    it('holds the campaign record the store has for a campaign it found, never a made-up one', async () => {
      startRegistry();
      const autumn = { id: 'autumn', name: 'Autumn', startTime: 7, createdAt: 3 };
      store.records.set('autumn', autumn);
      ingest([impression('autumn', 'u1')]);
      store.lookups[0].settle([true]);
      await flush();
      expect(registry.getSnapshot().context.campaigns.get('autumn')?.info).to.deep.equal(autumn);
    });

    it('answers the items of ids whose lookup failed unavailable with Retry-After, and keeps no actor for them', async () => {
      startRegistry();
      const sent = ingest([impression('x', 'u1'), impression('y', 'u1')]);
      store.lookups[0].settle(new Error('timed out'));
      await flush();
      expect(sent.result).to.deep.equal({ outcomes: ['unavailable', 'unavailable'], retryAfterMs: 1000 });
      expect(actors()).to.deep.equal([]);
      expect(registry.getSnapshot().context.lookups.size).to.equal(0);
    });

    it('looks an id up once however many messages wait for it', async () => {
      startRegistry();
      const first = ingest([impression('a', 'u1')]);
      const second = ingest([impression('a', 'u2')]);
      let read: StatsResult | undefined;
      registry.send({ type: 'stats', id: 'a', at: 3, reply: (r) => (read = r) });
      expect(store.lookups.map((l) => l.ids)).to.deep.equal([['a']]);
      store.lookups[0].settle([true]);
      await flush();
      expect(actors()).to.deep.equal(['a']);
      store.calls[0].settle(['counted']);
      await flush();
      store.calls[1].settle(['counted']);
      store.reads[0].settle({ lastHour: 2, lastDay: 2, total: 2 });
      await flush();
      expect([first.result?.outcomes, second.result?.outcomes, read]).to.deep.equal([['counted'], ['counted'], { lastHour: 2, lastDay: 2, total: 2 }]);
    });

    it(`refuses an id not seen yet at once, unavailable, while ${MAX_PENDING_LOOKUPS} are being looked up, and serves known campaigns meanwhile`, async () => {
      startRegistry();
      ingest([impression('known', 'u0')]);
      store.lookups[0].settle([true]);
      await flush();
      store.calls[0].settle(['counted']);
      await flush();
      const many = Array.from({ length: MAX_PENDING_LOOKUPS - 1 }, (_, i) => impression(`ghost-${i}`, 'u'));
      ingest(many);
      const last = ingest([impression('ghost-last', 'u')]);
      expect(store.lookups.map((l) => l.ids.length), 'the last free place is still looked up').to.deep.equal([1, MAX_PENDING_LOOKUPS - 1, 1]);
      expect(last.result).to.equal(undefined);
      const refused = ingest([impression('one-too-many', 'u'), impression('known', 'u1')]);
      expect(store.lookups, 'no lookup beyond the bound').to.have.length(3);
      expect(refused.result).to.equal(undefined);
      store.calls[1].settle(['counted']);
      await flush();
      expect(refused.result).to.deep.equal({ outcomes: ['unavailable', 'counted'], retryAfterMs: 1000 });
      store.lookups[1].settle(new Array<boolean>(MAX_PENDING_LOOKUPS - 1).fill(false));
      store.lookups[2].settle([false]);
      await flush();
      expect(last.result?.outcomes).to.deep.equal(['not_found']);
      expect(actors()).to.deep.equal(['known']);
    });

    it('answers stats and forwarded reads of an id the store does not have not_found, without an actor', async () => {
      startRegistry();
      let read: StatsResult | undefined;
      let forwarded: ForwardResult | undefined;
      registry.send({ type: 'stats', id: 'nope', at: 1, reply: (r) => (read = r) });
      registry.send({ type: 'campaign.forward', id: 'nope', at: 1, message: (reply) => ({ type: 'ads.totals', at: 0, reply }), reply: (r) => (forwarded = r) });
      expect(store.lookups.map((l) => l.ids), 'the second waits for the same lookup').to.deep.equal([['nope']]);
      store.lookups[0].settle([false]);
      await flush();
      expect(read).to.deep.equal({ error: 'not_found' });
      expect(forwarded).to.deep.equal({ error: 'not_found' });
      expect(actors()).to.deep.equal([]);
    });

    it('answers stats not_found from the store as not_found', async () => {
      startRegistry();
      let result: StatsResult | undefined;
      registry.send({ type: 'stats', id: 'gone', at: 1, reply: (r) => (result = r) });
      store.lookups[0].settle([true]);
      await flush();
      store.reads[0].settle('not_found');
      await flush();
      expect(result).to.deep.equal({ error: 'not_found' });
    });

    it('forgets, at the next tick, actors of campaigns the store no longer has', async () => {
      startRegistry();
      ingest([impression('gone', 'u1')]);
      ingest([impression('real', 'u1')]);
      store.lookups[0].settle([true]);
      store.lookups[1].settle([true]);
      await flush();
      store.calls[0].settle(['not_found']);
      store.calls[1].settle(['counted']);
      await flush();
      expect(actors()).to.deep.equal(['gone', 'real']);
      registry.send({ type: 'tick', at: 2 });
      expect(actors()).to.deep.equal(['real']);
    });
  });
});
