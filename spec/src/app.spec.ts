import { expect } from 'chai';
import { useTestApp } from '../helpers/app.js';

describe('app', () => {
  const t = useTestApp();

  it('counts a first impression and drops a repeat of the same user', async () => {
    const created = await t.request('POST', '/api/v1/campaigns', { name: 'spring', start_time: '2020-01-01T00:00:00Z' });
    expect(created.status).to.equal(201);
    const impression = { campaign_id: created.body.id, user_id: 'u1', ad_id: 'a1' };
    expect((await t.request('POST', '/api/v1/impressions', impression)).body.counted).to.equal(true);
    expect((await t.request('POST', '/api/v1/impressions', impression)).body.counted).to.equal(false);
    const stats = await t.request('GET', `/api/v1/campaigns/${created.body.id}/stats`);
    expect(stats.body).to.deep.equal({ campaign_id: created.body.id, last_hour: 1, last_day: 1, total: 1 });
  });
});
