import { expect } from 'chai';
import { pino } from 'pino';
import { StateBudget } from '../../../actors/counting/budget.js';
import { watchBudget } from '../../../src/budget.js';
import { Readiness } from '../../../src/health.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';

const CAMPAIGN = { name: 'spring sale', start_time: '2020-01-01T00:00:00Z' };

describe('state budget over HTTP (MEMORY_BUDGET, MAX_CAMPAIGNS)', () => {
  let t: TestApp;
  afterEach(() => t.close());

  it('creates campaigns up to MAX_CAMPAIGNS, then answers 507 in the error shape', async () => {
    t = await startTestApp({ budget: new StateBudget({ maxBytes: Number.MAX_SAFE_INTEGER, maxCampaigns: 2 }) });
    expect((await t.request('POST', '/api/v1/campaigns', CAMPAIGN)).status).to.equal(201);
    expect((await t.request('POST', '/api/v1/campaigns', CAMPAIGN)).status).to.equal(201);
    const refused = await t.request('POST', '/api/v1/campaigns', CAMPAIGN);
    expect(refused.status).to.equal(507);
    expect(refused.body).to.deep.equal({ error: 'campaign limit reached: MAX_CAMPAIGNS allows 2 campaigns; no more can be created', code: 507 });
  });

  it('at the memory budget refuses new campaigns, users and ads with 503 + Retry-After, and keeps answering the rest', async () => {
    // Arrange: a campaign with users u0…u9 on banner-1, then a budget exactly at the state's bytes.
    const budget = new StateBudget({ maxBytes: Number.MAX_SAFE_INTEGER, maxCampaigns: 100 });
    const readiness = new Readiness();
    t = await startTestApp({ budget, deps: () => ({ readiness }) });
    const stop = watchBudget(budget, readiness, pino({ level: 'silent' }), 60_000);
    const { id } = (await t.request('POST', '/api/v1/campaigns', CAMPAIGN)).body as { id: string };
    const users = Array.from({ length: 10 }, (_, i) => ({ campaign_id: id, user_id: `u${i}`, ad_id: 'banner-1' }));
    expect((await t.request('POST', '/api/v1/impressions', users)).body.counted).to.equal(10);
    (budget.limits as { maxBytes: number }).maxBytes = budget.bytes;

    // Act + Assert: growth is refused…
    const campaign = await t.request('POST', '/api/v1/campaigns', CAMPAIGN);
    expect(campaign.status).to.equal(503);
    expect(campaign.headers.get('retry-after')).to.equal('30');
    expect(campaign.body).to.deep.equal({ error: 'the service is at its memory budget (MEMORY_BUDGET): a new campaign would add state and is refused; retry later', code: 503 });
    const single = await t.request('POST', '/api/v1/impressions', { campaign_id: id, user_id: 'newcomer', ad_id: 'banner-1' });
    expect(single.status).to.equal(503);
    expect(single.headers.get('retry-after')).to.equal('30');
    expect(single.body.error).to.include('memory budget');
    const batch = await t.request('POST', '/api/v1/impressions', [
      { campaign_id: id, user_id: 'u1', ad_id: 'banner-1' },
      { campaign_id: id, user_id: 'newcomer', ad_id: 'banner-1' },
      { campaign_id: id, user_id: 'u2', ad_id: 'banner-new' },
    ]);
    expect(batch.status).to.equal(200);
    expect(batch.body.results[0]).to.deep.equal({ counted: false, duplicate: true });
    expect(batch.body.results[1]).to.include({ code: 503 });
    expect(batch.body.results[2]).to.include({ code: 503 });
    const ad = await t.request('POST', `/api/v1/campaigns/${id}/ads`, { name: 'new', image_url: 'https://example.com/a.png', target_url: 'https://example.com/' });
    expect(ad.status).to.equal(503);

    // …while reads and known users go on, and /readyz says why it is unready.
    expect((await t.request('GET', `/api/v1/campaigns/${id}/stats`)).body).to.include({ total: 10 });
    expect((await t.request('GET', `/api/v1/campaigns/${id}/analytics?window=1h`)).status).to.equal(200);
    stop();
    const stopAgain = watchBudget(budget, readiness, pino({ level: 'silent' }), 60_000);
    const ready = await t.request('GET', '/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body).to.deep.include({ status: 'unready', reason: 'memory budget reached' });
    stopAgain();
  });
});
