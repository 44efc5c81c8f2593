import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Impression } from '../../../actors/protocol.js';
import { bootNode, ManualClock, T0, type Node } from '../../helpers/storage.js';

/** Ads, clicks and analytics survive a restart: from a snapshot, and from the journal alone (a crash). */
describe('storage: ads, clicks and analytics across restarts', () => {
  let dir: string;
  const nodes: Node[] = [];
  const boot = async (clock = new ManualClock(T0)): Promise<Node> => {
    const node = await bootNode(dir, { clock });
    nodes.push(node);
    return node;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'analytics-durability-'));
  });

  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.crash();
    await rm(dir, { recursive: true, force: true });
  });

  async function history(node: Node): Promise<void> {
    await node.createCampaign('c1');
    await node.counter.analytics.registerAd('c1', { id: 'banner', name: 'Banner', imageUrl: 'https://cdn.example.com/b.png', targetUrl: 'https://example.com/' });
    const items: Impression[] = [
      { campaignId: 'c1', userId: 'u1', adId: 'banner' },
      { campaignId: 'c1', userId: 'u2', adId: 'banner' },
      { campaignId: 'c1', userId: 'u3', adId: 'video' },
      { campaignId: 'c1', userId: 'u1', adId: 'video' },
      { campaignId: 'c1', userId: 'bot', adId: 'video', bot: true },
    ];
    expect((await node.counter.impressions.recordMany(items)).outcomes).to.deep.equal(['counted', 'counted', 'counted', 'duplicate', 'bot_filtered']);
    const now = node.clock.now();
    const clicks = await node.counter.clicks.record(
      [
        { campaignId: 'c1', adId: 'banner', userId: 'u1', playbackTime: 10, at: now },
        { campaignId: 'c1', adId: 'video', userId: 'u3', playbackTime: 5, at: now - 60_000 },
      ],
      now,
    );
    expect(clicks.outcomes).to.deep.equal(['counted', 'counted']);
  }

  async function expectHistory(node: Node): Promise<void> {
    const report = await node.counter.analytics.report('c1', '24h', true);
    expect(report.campaign).to.deep.include({ counted: 3, duplicates: 1, botImpressions: 1, clicks: 2, playbackCount: 2, playbackSeconds: 15, uniqueUsers: 3 });
    expect(report.ads?.map((a) => [a.adId, a.figures.counted, a.figures.duplicates, a.figures.clicks, a.figures.uniqueUsers])).to.deep.equal([
      ['banner', 2, 0, 1, 2],
      ['video', 1, 1, 1, 1],
    ]);
    expect((await node.counter.analytics.listCampaignAds('c1', 0, 10)).ads.map((a) => a.id)).to.deep.equal(['banner']);
    expect((await node.counter.campaigns.stats('c1')).total).to.equal(3);
  }

  it('restores them from the journal alone after a crash', async () => {
    const first = await boot();
    await history(first);
    await first.crash();
    const second = await boot();
    expect(second.report.analyticsRecords).to.be.above(0);
    await expectHistory(second);
  });

  it('restores them from a snapshot, then replays what came after it exactly once', async () => {
    const first = await boot();
    await history(first);
    await first.store.snapshot(first.system.registry);
    // After the snapshot: one more counted impression and click.
    await first.counter.impressions.recordMany([{ campaignId: 'c1', userId: 'u4', adId: 'banner' }]);
    await first.counter.clicks.record([{ campaignId: 'c1', adId: 'banner', at: first.clock.now() }], first.clock.now());
    await first.crash();

    const second = await boot();
    expect(second.report.snapshot).to.be.a('string');
    const report = await second.counter.analytics.report('c1', '24h', true);
    expect(report.campaign).to.deep.include({ counted: 4, clicks: 3, uniqueUsers: 4, playbackSeconds: 15 });
    expect(report.ads?.[0]).to.deep.include({ adId: 'banner' });
    expect(report.ads?.[0].figures).to.deep.include({ counted: 3, clicks: 2 });

    // A graceful shutdown leaves everything in the final snapshot.
    await second.shutdown();
    const third = await boot();
    expect(third.report).to.deep.include({ records: 0, analyticsRecords: 0 });
    expect((await third.counter.analytics.report('c1', '24h', false)).campaign).to.deep.include({ counted: 4, clicks: 3, uniqueUsers: 4 });
  });

  it('keeps the click series and all-time click totals across a crash', async () => {
    const clock = new ManualClock(T0);
    const first = await boot(clock);
    await first.createCampaign('c1');
    await first.counter.clicks.record([{ campaignId: 'c1', adId: 'a', userId: 'u', at: T0 }], T0);
    await first.crash();
    const second = await boot(clock);
    const series = await second.counter.analytics.series('c1', { starts: Float64Array.of(T0 - (T0 % 900_000)), ends: Float64Array.of(T0 - (T0 % 900_000) + 900_000), sources: Uint8Array.of(1) }, T0);
    expect([...series.clicks]).to.deep.equal([1]);
    expect((await second.counter.analytics.adsAcrossCampaigns()).map((r) => [r.adId, r.clicks])).to.deep.equal([['a', 1]]);
  });
});
