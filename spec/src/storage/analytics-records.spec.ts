import { expect } from 'chai';
import { campaignReplay, newCampaignState, type CampaignState } from '../../../actors/campaign/campaign.js';
import { hash128 } from '../../../actors/counting/hash128.js';
import { IDEMPOTENCY_TTL_MS } from '../../../actors/protocol.js';
import { replayAnalyticsRecord } from '../../../src/storage/analytics-records.js';
import { RecordType } from '../../../src/storage/journal.js';

const T0 = Date.UTC(2026, 5, 1, 9, 17, 0);

describe('analytics journal records', () => {
  const state = (): CampaignState => newCampaignState({ info: { id: 'c', name: 'c', startTime: 0, createdAt: 0 }, ttlMs: 3_600_000 });
  const clicked = (facts: object[]): Buffer => Buffer.from(JSON.stringify(facts));
  const digest = (id: string): number[] => {
    const d = new Uint32Array(4);
    hash128(id, d);
    return [...d];
  };
  const retry = (s: CampaignState, clickId: string, now: number) => s.analytics?.click({ campaignId: 'c', adId: 'ad-1', clickId, at: now }, now, undefined);

  it('replays a clicks record written before click ids (no `i`, no `r`): the clicks count and no id is remembered', () => {
    const s = state();
    expect(replayAnalyticsRecord(RecordType.Clicked, campaignReplay, s, T0, clicked([{ a: T0, ad: 'ad-1', o: 'c' }, { a: T0, ad: 'ad-1', o: 'd' }]))).to.equal(true);
    expect(s.analytics?.report(T0, '1h', false).campaign).to.include({ clicks: 1, duplicateClicks: 1 });
    expect(retry(s, 'x', T0)).to.equal('counted');
  });

  it('remembers a click id `i` from its arrival `r`, under its outcome', () => {
    const s = state();
    const arrival = T0 + 5 * 60_000;
    const facts = [
      { a: T0, ad: 'ad-1', o: 'c', i: digest('c-1'), r: arrival },
      { a: T0, ad: 'ad-1', o: 'd', i: digest('c-2'), r: arrival },
    ];
    expect(replayAnalyticsRecord(RecordType.Clicked, campaignReplay, s, T0, clicked(facts))).to.equal(true);
    expect(retry(s, 'c-1', arrival + IDEMPOTENCY_TTL_MS - 1)).to.equal('replayed_counted');
    expect(retry(s, 'c-2', arrival + IDEMPOTENCY_TTL_MS - 1)).to.equal('replayed_duplicate');
    expect(retry(s, 'c-1', arrival + IDEMPOTENCY_TTL_MS)).to.equal('counted');
  });
});
