import { expect } from 'chai';
import { createActor } from 'xstate';
import type { Impression, ImpressionsEvent, Outcome, Stats } from '../../actors/protocol.js';
import { registryLogic, type IngestResult, type RegistryRef, type StatsResult } from '../../actors/registry.js';
import { isRetirable, remoteCampaignLogic, type CampaignStore, type ImpressionGroup, type RemoteCampaignRef } from '../../actors/remote-campaign.js';
import { campaignInfo, impression } from '../helpers/actors.js';

/** A store whose calls stay pending until the test settles them, recording what each call carried. */
class ManualStore implements CampaignStore {
  readonly calls: { campaignId: string; groups: readonly ImpressionGroup[]; settle: (outcomes: Outcome[] | Error) => void }[] = [];
  readonly reads: { campaignId: string; at: number; settle: (r: Stats | 'not_found' | Error) => void }[] = [];

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

  function start(limits: { maxItemsPerCall?: number; maxQueuedItems?: number } = {}): void {
    store = new ManualStore();
    const logic = remoteCampaignLogic({ store, maxItemsPerCall: limits.maxItemsPerCall ?? 1000, maxQueuedItems: limits.maxQueuedItems ?? 10_000 });
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
    expect(isRetirable(ref)).to.equal(false);
    send(ref, 1, ['u1']);
    store.calls[0].settle(['not_found']);
    await flush();
    expect(isRetirable(ref)).to.equal(true);
    send(ref, 1, ['u1']);
    expect(isRetirable(ref)).to.equal(false);
    store.calls[1].settle(['counted']);
    await flush();
    expect(isRetirable(ref)).to.equal(false);
  });

  describe('under a registry with `remote` set', () => {
    let registry: RegistryRef;
    afterEach(() => registry?.stop());

    function startRegistry(): void {
      store = new ManualStore();
      const remote = remoteCampaignLogic({ store, maxItemsPerCall: 1000, maxQueuedItems: 10_000 });
      registry = createActor(registryLogic, { input: { ttlMs: 1000, supervision: { maxRestarts: 5, windowMs: 60_000 }, sweepBudget: 65_536, remote } });
      registry.subscribe({ error: () => undefined });
      registry.start();
    }

    it('gives an id it has not seen an actor on demand and routes one message per campaign', async () => {
      startRegistry();
      let result: IngestResult | undefined;
      const items = [impression('a', 'u1'), impression('b', 'u1'), impression('a', 'u2')];
      registry.send({ type: 'impressions', at: 3, items, reply: (r) => (result = r) });
      expect(store.calls.map((c) => [c.campaignId, c.groups[0].items.length])).to.deep.equal([
        ['a', 2],
        ['b', 1],
      ]);
      store.calls[0].settle(['counted', 'duplicate']);
      store.calls[1].settle(['not_found']);
      await flush();
      expect(result?.outcomes).to.deep.equal(['counted', 'not_found', 'duplicate']);
    });

    it('answers stats not_found from the store as not_found', async () => {
      startRegistry();
      let result: StatsResult | undefined;
      registry.send({ type: 'stats', id: 'nope', at: 1, reply: (r) => (result = r) });
      store.reads[0].settle('not_found');
      await flush();
      expect(result).to.deep.equal({ error: 'not_found' });
    });

    it('forgets, at the next tick, actors of ids the store does not know', async () => {
      startRegistry();
      registry.send({ type: 'impressions', at: 1, items: [impression('ghost', 'u1')], reply: () => undefined });
      registry.send({ type: 'impressions', at: 1, items: [impression('real', 'u1')], reply: () => undefined });
      store.calls[0].settle(['not_found']);
      store.calls[1].settle(['counted']);
      await flush();
      const ids = (): string[] => [...registry.getSnapshot().context.campaigns.keys()].sort();
      expect(ids()).to.deep.equal(['ghost', 'real']);
      registry.send({ type: 'tick', at: 2 });
      expect(ids()).to.deep.equal(['real']);
    });
  });
});
