import { expect } from 'chai';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, createCampaign, impression, postImpression, stats } from '../../helpers/http.js';
import { prng } from '../../helpers/process.js';

describe('concurrency over HTTP', () => {
  let t: TestApp;
  let campaigns: string[];
  beforeEach(async () => {
    t = await startTestApp();
    campaigns = [];
    for (let i = 0; i < 4; i++) campaigns.push(await createCampaign(t, { name: `c${i}` }));
  });
  afterEach(() => t.close());

  it('counts 600 concurrent single POSTs repeating users across campaigns exactly', async () => {
    const random = prng(42);
    const sent = Array.from({ length: 600 }, () => ({
      campaign: campaigns[Math.floor(random() * campaigns.length)],
      user: `user-${Math.floor(random() * 120)}`,
    }));
    const distinct = new Map<string, Set<string>>(campaigns.map((c) => [c, new Set()]));
    for (const s of sent) distinct.get(s.campaign)?.add(s.user);
    const expectedPairs = [...distinct.values()].reduce((n, users) => n + users.size, 0);
    expect(expectedPairs, 'the traffic must repeat users').to.be.below(sent.length);

    const responses = await Promise.all(sent.map((s) => postImpression(t, impression(s.campaign, s.user))));

    expect(responses.filter((r) => r.status !== 200).map((r) => r.body)).to.deep.equal([]);
    const countedPerPair = new Map<string, number>();
    for (let i = 0; i < sent.length; i++) {
      if (responses[i].body.counted !== true) continue;
      const key = `${sent[i].campaign}/${sent[i].user}`;
      countedPerPair.set(key, (countedPerPair.get(key) ?? 0) + 1);
    }
    expect(countedPerPair.size).to.equal(expectedPairs);
    expect([...countedPerPair.values()].every((n) => n === 1), 'a pair was counted twice').to.equal(true);
    for (const c of campaigns) {
      const s = await stats(t, c);
      const users = distinct.get(c)?.size ?? 0;
      expect(s, c).to.include({ total: users, last_hour: users, last_day: users });
    }
  });

  it('counts concurrent batches, singles and stats reads of the same campaigns exactly', async () => {
    const random = prng(7);
    const pick = () => impression(campaigns[Math.floor(random() * campaigns.length)], `u${Math.floor(random() * 200)}`);
    const batches = Array.from({ length: 30 }, () => Array.from({ length: 40 }, pick));
    const singles = Array.from({ length: 300 }, pick);
    const distinct = new Set([...batches.flat(), ...singles].map((i) => `${i.campaign_id}/${i.user_id}`));

    const [batchResponses, singleResponses, statsResponses] = await Promise.all([
      Promise.all(batches.map((b) => postImpression(t, b))),
      Promise.all(singles.map((s) => postImpression(t, s))),
      Promise.all(Array.from({ length: 100 }, (_, i) => t.request('GET', `${API}/campaigns/${campaigns[i % campaigns.length]}/stats`))),
    ]);

    expect(statsResponses.every((r) => r.status === 200)).to.equal(true);
    expect(batchResponses.every((r) => r.status === 200)).to.equal(true);
    expect(singleResponses.every((r) => r.status === 200)).to.equal(true);
    const counted =
      batchResponses.reduce((n, r) => n + r.body.counted, 0) + singleResponses.filter((r) => r.body.counted === true).length;
    const duplicates = batchResponses.reduce((n, r) => n + r.body.duplicates, 0) + singleResponses.filter((r) => r.body.counted === false).length;
    expect(counted).to.equal(distinct.size);
    expect(counted + duplicates).to.equal(30 * 40 + 300);
    expect(batchResponses.reduce((n, r) => n + r.body.rejected, 0)).to.equal(0);

    let total = 0;
    for (const c of campaigns) total += (await stats(t, c)).total;
    expect(total).to.equal(distinct.size);
  });

  it('creates campaigns concurrently with distinct ids, each listed exactly once', async () => {
    const created = await Promise.all(Array.from({ length: 100 }, (_, i) => t.request('POST', `${API}/campaigns`, { name: `n${i}` })));
    expect(created.every((r) => r.status === 201)).to.equal(true);
    const ids = created.map((r) => r.body.id as string);
    expect(new Set(ids).size).to.equal(100);

    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { campaigns: { id: string }[]; next_cursor: string | null } } = await t.request(
        'GET',
        `${API}/campaigns?limit=30${cursor ? `&cursor=${cursor}` : ''}`,
      );
      listed.push(...res.body.campaigns.map((c) => c.id));
      cursor = res.body.next_cursor;
    } while (cursor !== null);
    expect(listed).to.have.length(104);
    expect(new Set(listed)).to.deep.equal(new Set([...campaigns, ...ids]));
  });
});
