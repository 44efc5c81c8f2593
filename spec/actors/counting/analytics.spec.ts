import { expect } from 'chai';
import { decodeAnalytics, encodeAnalytics } from '../../../src/storage/analytics-codec.js';
import { DEFAULT_ANALYTICS, TallyCode, type Click, type ClickFact } from '../../../actors/analytics-protocol.js';
import { CampaignAnalytics } from '../../../actors/counting/analytics.js';
import { IDEMPOTENCY_TTL_MS } from '../../../actors/protocol.js';

const T0 = Date.UTC(2026, 5, 1, 9, 17, 0);
const MINUTE = 60_000;
const OPTIONS = { ...DEFAULT_ANALYTICS, clickTtlMs: 10 * MINUTE };

const click = (clickId: string | undefined, at: number, userId = 'u1'): Click => ({ campaignId: 'c', adId: 'ad-1', userId, at, ...(clickId !== undefined && { clickId }) });

describe('campaign analytics: click ids', () => {
  it('answers a retried click id with its first outcome, and counts it once', () => {
    const a = new CampaignAnalytics(OPTIONS);
    expect(a.click(click('c-1', T0), T0, undefined)).to.equal('counted');
    expect(a.click(click('c-2', T0), T0, undefined)).to.equal('duplicate');
    // Past the click dedupe window the user would count again; the ids still hold their first outcome.
    const later = T0 + 20 * MINUTE;
    expect(a.click(click('c-1', later), later, undefined)).to.equal('replayed_counted');
    expect(a.click(click('c-2', later), later, undefined)).to.equal('replayed_duplicate');
    const figures = a.report(later, '1h', false).campaign;
    expect(figures).to.include({ clicks: 1, duplicateClicks: 1 });
  });

  it("runs the day from the click's arrival, not from its timestamp: replayed at arrival + a day − 1 ms, counted afresh at a day", () => {
    const a = new CampaignAnalytics(DEFAULT_ANALYTICS); // no click dedupe: only the id decides
    const arrival = T0 + 30 * MINUTE;
    const happened = T0; // sent 30 minutes late, with its timestamp
    expect(a.click(click('late', happened), arrival, undefined)).to.equal('counted');
    const edge = arrival + IDEMPOTENCY_TTL_MS;
    expect(a.click(click('late', happened), edge - 1, undefined)).to.equal('replayed_counted');
    expect(a.click(click('late', happened), edge, undefined)).to.equal('counted');
  });

  it('never remembers the id of a bot click', () => {
    const a = new CampaignAnalytics(OPTIONS);
    expect(a.click({ ...click('b', T0), bot: true }, T0, undefined)).to.equal('bot_filtered');
    expect(a.click(click('b', T0), T0, undefined)).to.equal('counted');
  });

  it('journals each click id with its arrival time, and a replay of those facts remembers it', () => {
    const a = new CampaignAnalytics(OPTIONS);
    const facts: ClickFact[] = [];
    a.click(click('c-1', T0 - MINUTE), T0, facts);
    a.click(click('c-2', T0 - MINUTE), T0, facts);
    a.click(click(undefined, T0, 'u2'), T0, facts);
    expect(facts.map((f) => [f.outcome, f.clickId?.at])).to.deep.equal([
      ['counted', T0],
      ['duplicate', T0],
      ['counted', undefined],
    ]);
    const recovered = new CampaignAnalytics(OPTIONS);
    recovered.replayClicked(facts);
    const edge = T0 + IDEMPOTENCY_TTL_MS;
    expect(recovered.click(click('c-1', edge - 1), edge - 1, undefined)).to.equal('replayed_counted');
    expect(recovered.click(click('c-2', edge - 1), edge - 1, undefined)).to.equal('replayed_duplicate');
    expect(recovered.click(click('c-1', edge), edge, undefined)).to.equal('counted');
  });

  it('keeps click ids through a snapshot image, and reads a version 2 image (before click ids) as having none', () => {
    const a = new CampaignAnalytics(OPTIONS);
    a.click(click('c-1', T0), T0, undefined);
    const restored = CampaignAnalytics.restore(decodeAnalytics(encodeAnalytics(a.capture())), OPTIONS);
    expect(restored.click(click('c-1', T0 + 1), T0 + 1, undefined)).to.equal('replayed_counted');

    // Version 2 wrote the same bytes up to the click dedupe table and stopped there.
    const plain = new CampaignAnalytics(OPTIONS);
    plain.click(click(undefined, T0), T0, undefined);
    const v3 = encodeAnalytics(plain.capture());
    const v2 = v3.slice(0, v3.length - 1);
    v2[0] = 2;
    const old = CampaignAnalytics.restore(decodeAnalytics(v2), OPTIONS);
    expect(old.report(T0, '1h', false).campaign.clicks).to.equal(1);
    expect(old.click(click('c-1', T0 + 1, 'u2'), T0 + 1, undefined)).to.equal('counted');
  });

  it('accounts for the click id tables in its bytes, and frees expired ids on compaction', () => {
    const a = new CampaignAnalytics(OPTIONS);
    const empty = a.bytes;
    for (let i = 0; i < 2000; i++) a.click(click(`id-${i}`, T0, `u${i}`), T0, undefined);
    const held = a.bytes;
    expect(held).to.be.above(empty);
    const after = T0 + IDEMPOTENCY_TTL_MS;
    for (let i = 0; i < 10; i++) a.compact(after, 1 << 20);
    expect(a.bytes).to.be.below(held);
  });
});

describe('campaign analytics: impression tallies with times', () => {
  const tallied = (a: CampaignAnalytics, at: number): (Float64Array | undefined)[] => {
    const calls: (Float64Array | undefined)[] = [];
    a.flush('c', at, { tallied: (_c, _at, _ads, _n, _items, times) => calls.push(times) });
    return calls;
  };

  it('journals no times while every impression of a message is at its arrival', () => {
    const a = new CampaignAnalytics();
    a.begin();
    a.impression('ad-1', T0, TallyCode.counted, undefined);
    a.impression('ad-2', T0, TallyCode.duplicate, undefined);
    expect(tallied(a, T0)).to.deep.equal([undefined]);
  });

  it('journals each impression its time once one happened before the arrival, whichever it was', () => {
    for (const times of [
      [T0 - MINUTE, T0 - MINUTE],
      [T0 - MINUTE, T0],
      [T0, T0 - MINUTE, T0],
    ]) {
      const a = new CampaignAnalytics();
      a.begin();
      for (const t of times) a.impression('ad-1', t, TallyCode.duplicate, undefined);
      expect(tallied(a, T0).map((x) => x && Array.from(x)), String(times)).to.deep.equal([times]);
      // The next message, with none, journals none again.
      a.begin();
      a.impression('ad-1', T0, TallyCode.duplicate, undefined);
      expect(tallied(a, T0)).to.deep.equal([undefined]);
    }
  });
});
