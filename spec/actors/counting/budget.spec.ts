import { expect } from 'chai';
import { StateBudget } from '../../../actors/counting/budget.js';
import { newCampaignState, restoreCampaignState, captureState, countImpression } from '../../../actors/campaign/campaign.js';
import { askNow, campaignInfo, HOUR_MS, impression, startRegistry, userIds, type RegistryHarness } from '../../helpers/actors.js';
import type { ForwardResult } from '../../../actors/registry/registry.js';
import type { ClickOutcome } from '../../../actors/analytics-protocol.js';

const AT = 10 * HOUR_MS;
const UNBOUNDED = { maxBytes: Number.MAX_SAFE_INTEGER, maxCampaigns: Number.MAX_SAFE_INTEGER };

function clicks(h: RegistryHarness, campaignId: string, adIds: readonly string[]): ClickOutcome[] {
  const result = askNow<ForwardResult>(h.registry, (reply) => ({
    type: 'campaign.forward',
    id: campaignId,
    at: AT,
    message: (r: (value: ClickOutcome[]) => void) => ({ type: 'clicks', now: AT, items: adIds.map((adId) => ({ campaignId, adId, at: AT })), out: adIds.map(() => 'unavailable' as const), reply: r }),
    reply,
  }));
  return (result as { value: ClickOutcome[] }).value;
}

describe('state budget (actors/counting/budget.ts)', () => {
  describe('StateBudget', () => {
    it('is full at maxBytes, not one byte before', () => {
      const b = new StateBudget({ maxBytes: 1000, maxCampaigns: 10 });
      b.change(999);
      expect(b.full).to.equal(false);
      expect(b.campaignRefusal()).to.equal(undefined);
      b.change(1);
      expect(b.full).to.equal(true);
      expect(b.campaignRefusal()).to.equal('memory');
      b.change(-1);
      expect(b.full).to.equal(false);
    });

    it('refuses a campaign at maxCampaigns, not one before', () => {
      const b = new StateBudget({ maxBytes: 1 << 30, maxCampaigns: 2 });
      b.campaignAdded();
      expect(b.campaignRefusal()).to.equal(undefined);
      b.campaignAdded();
      expect(b.campaignRefusal()).to.equal('campaigns');
    });
  });

  describe('accounting', () => {
    let h: RegistryHarness;
    afterEach(() => h.stop());

    it("holds exactly the sum of the campaigns' bytes, through impressions, clicks, sweeps and restores", () => {
      const budget = new StateBudget(UNBOUNDED);
      h = startRegistry({ budget });
      h.create('a');
      h.create('b');
      const sum = (): number => h.describe().children.reduce((n, c) => n + c.bytes, 0);
      expect(budget.bytes).to.equal(sum());
      h.ingest(AT, [...userIds(3_000).map((u, i) => impression('a', u, `ad-${i % 50}`)), ...userIds(10).map((u) => impression('b', u))]);
      expect(budget.bytes).to.equal(sum());
      clicks(h, 'a', ['ad-1', 'ad-new']);
      expect(budget.bytes).to.equal(sum());
      const grown = budget.bytes;
      h.tick(AT + 2 * HOUR_MS); // the dedupe keys expire
      expect(budget.bytes).to.equal(sum());
      expect(budget.bytes).to.be.below(grown - 3_000 * 16);
      // A restored state replacing a running one is counted once.
      const image = askNow<any>(h.registry, (reply) => ({ type: 'campaign.capture', id: 'a', reply }));
      h.registry.send({ type: 'campaign.restore', state: restoreCampaignState(image, HOUR_MS) });
      expect(budget.bytes).to.equal(sum());
      expect(budget.campaigns).to.equal(2);
    });

    it('counts analytics: a thousand ads cost what their rows hold, not a walk', () => {
      const state = newCampaignState({ info: campaignInfo('c'), ttlMs: HOUR_MS });
      for (let i = 0; i < 10_000; i++) countImpression(state, impression('c', `u${i}`, `ad-${i % 1000}`), AT);
      const bytes = state.analytics?.bytes ?? 0;
      // ~290 B per ad row with ten users, plus the campaign-wide sketches and pages.
      expect(bytes).to.be.within(1000 * 200, 1000 * 400);
    });
  });

  describe('refusals at the budget', () => {
    let h: RegistryHarness;
    afterEach(() => h.stop());

    /** A registry whose campaign `c` holds `users` (on ad-1), then a budget exactly at its bytes plus `slack`. */
    function fullAfter(users: number, slack: number): StateBudget {
      const budget = new StateBudget(UNBOUNDED);
      h = startRegistry({ budget });
      h.create('c');
      h.ingest(AT, userIds(users).map((u) => impression('c', u)));
      (budget.limits as { maxBytes: number }).maxBytes = budget.bytes + slack;
      return budget;
    }

    it('counts a new user one byte under the budget, and refuses the next one at it', () => {
      const budget = fullAfter(100, 1);
      expect(budget.full).to.equal(false);
      expect(h.record(AT, 'c', 'new-1')).to.equal('counted');
      (budget.limits as { maxBytes: number }).maxBytes = budget.bytes;
      expect(budget.full).to.equal(true);
      expect(h.record(AT, 'c', 'new-2')).to.equal('over_budget');
    });

    it('keeps answering users it holds: duplicates, and users whose window expired', () => {
      fullAfter(100, 0);
      expect(h.record(AT + 1, 'c', 'user-5')).to.equal('duplicate');
      expect(h.record(AT + HOUR_MS, 'c', 'user-6')).to.equal('counted'); // its slot is reused
      expect(h.stats('c', AT + HOUR_MS)).to.deep.include({ total: 101 });
    });

    it('refuses an ad without a row, even for a user it holds; bots on known ads go on', () => {
      fullAfter(100, 0);
      expect(h.ingest(AT + 1, [impression('c', 'user-1', 'ad-new')]).outcomes).to.deep.equal(['over_budget']);
      expect(h.ingest(AT + 1, [{ ...impression('c', 'someone', 'ad-1'), bot: true }]).outcomes).to.deep.equal(['bot_filtered']);
      expect(clicks(h, 'c', ['ad-1', 'ad-new'])).to.deep.equal(['counted', 'over_budget']);
    });

    it('refuses a new campaign at the budget and at MAX_CAMPAIGNS, never a restored one', () => {
      const budget = new StateBudget({ maxBytes: Number.MAX_SAFE_INTEGER, maxCampaigns: 2 });
      h = startRegistry({ budget });
      expect(h.create('a')).to.deep.include({ id: 'a' });
      expect(h.create('b')).to.deep.include({ id: 'b' });
      expect(h.create('c')).to.deep.equal({ refused: 'campaigns' });
      expect(h.create('a')).to.deep.include({ id: 'a' }); // an existing one is no growth
      const state = restoreCampaignState(captureState(newCampaignState({ info: campaignInfo('d'), ttlMs: HOUR_MS })), HOUR_MS);
      h.registry.send({ type: 'campaign.restore', state });
      expect(h.get('d')).to.deep.include({ id: 'd' });
      (budget.limits as { maxCampaigns: number }).maxCampaigns = 100;
      (budget.limits as { maxBytes: number }).maxBytes = budget.bytes;
      expect(h.create('e')).to.deep.equal({ refused: 'memory' });
    });
  });
});
