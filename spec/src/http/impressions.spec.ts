import { expect } from 'chai';
import sinon from 'sinon';
import { testAppSlot } from '../../helpers/app.js';
import { createCampaign, expectError, impression, postImpression, stats } from '../../helpers/http.js';

const HOUR = 3_600_000;
const FIELDS = ['campaign_id', 'user_id', 'ad_id'] as const;

describe('impressions API', () => {
  const t = testAppSlot();

  describe('POST /impressions (one impression)', () => {
    beforeEach(async () => {
      await t.start();
    });

    it('answers counted: true for a first impression and counted: false for a repeat of the user', async () => {
      const id = await createCampaign(t);
      const first = await postImpression(t, impression(id, 'u1'));
      expect(first.status).to.equal(200);
      expect(first.body).to.include({ counted: true });
      expect(first.body.message).to.be.a('string').and.not.equal('');
      const repeat = await postImpression(t, impression(id, 'u1', 'another-ad'));
      expect(repeat.status).to.equal(200);
      expect(repeat.body).to.include({ counted: false, duplicate: true });
      expect(repeat.body.message).to.be.a('string').and.not.equal(first.body.message);
      expect(await stats(t, id)).to.include({ last_hour: 1, last_day: 1, total: 1 });
    });

    it('counts the same user again in another campaign', async () => {
      const a = await createCampaign(t, { name: 'a' });
      const b = await createCampaign(t, { name: 'b' });
      expect((await postImpression(t, impression(a, 'u1'))).body.counted).to.equal(true);
      expect((await postImpression(t, impression(b, 'u1'))).body.counted).to.equal(true);
      expect((await postImpression(t, impression(b, 'u1'))).body.counted).to.equal(false);
      expect((await stats(t, a)).total).to.equal(1);
      expect((await stats(t, b)).total).to.equal(1);
    });

    it('counts different users separately', async () => {
      const id = await createCampaign(t);
      for (const user of ['u1', 'u2', 'U1', 'u1 ']) expect((await postImpression(t, impression(id, user))).body.counted, user).to.equal(true);
      expect((await stats(t, id)).total).to.equal(4);
    });

    it('answers 404 for an unknown campaign, naming it', async () => {
      expectError(await postImpression(t, impression('no-such-campaign', 'u1')), 404, 'no-such-campaign');
    });

    it('answers 409 before the campaign starts, saying when it starts', async () => {
      const id = await createCampaign(t, { start_time: '2099-06-01T12:00:00+02:00' });
      const res = await postImpression(t, impression(id, 'u1'));
      expectError(res, 409, id, '2099-06-01T10:00:00.000Z');
      expect((await stats(t, id)).total).to.equal(0);
    });

    it('accepts an impression exactly at start_time and not 1 ms before (sinon fake Date)', async () => {
      const start = Date.UTC(2026, 5, 1, 12, 0, 0);
      const id = await createCampaign(t, { start_time: new Date(start).toISOString() });
      const clock = sinon.useFakeTimers({ now: start - 1, toFake: ['Date'] });
      try {
        expectError(await postImpression(t, impression(id, 'u1')), 409);
        clock.setSystemTime(start);
        expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(true);
      } finally {
        clock.restore();
      }
    });

    for (const field of FIELDS) {
      it(`accepts ${field} of 1 and of 256 characters`, async () => {
        const id = await createCampaign(t);
        for (const length of [1, 256]) {
          const body = { ...impression(id, `user-${length}`), [field]: field === 'campaign_id' ? id : 'x'.repeat(length) };
          if (field === 'campaign_id') {
            // A campaign id is the server's; check the length rule passes validation (404, not 400).
            body.campaign_id = 'c'.repeat(length);
            expectError(await postImpression(t, body), 404);
          } else {
            const res = await postImpression(t, body);
            expect(res.status, `${field} of ${length}: ${JSON.stringify(res.body)}`).to.equal(200);
            expect(res.body.counted).to.equal(true);
          }
        }
      });

      it(`rejects ${field} of 0 and of 257 characters with 400 naming it`, async () => {
        const id = await createCampaign(t);
        expectError(await postImpression(t, { ...impression(id, 'u1'), [field]: '' }), 400, field);
        expectError(await postImpression(t, { ...impression(id, 'u1'), [field]: 'x'.repeat(257) }), 400, field);
      });

      it(`rejects a missing ${field} with 400 naming it`, async () => {
        const body: Record<string, string> = impression('c', 'u1');
        delete body[field];
        expectError(await postImpression(t, body), 400, field);
      });

      for (const value of [42, null, true, ['x'], { id: 'x' }]) {
        it(`rejects ${field} = ${JSON.stringify(value)} with 400 naming it`, async () => {
          expectError(await postImpression(t, { ...impression('c', 'u1'), [field]: value }), 400, field);
        });
      }
    }

    it('rejects an unknown field with 400 naming it', async () => {
      expectError(await postImpression(t, { ...impression('c', 'u1'), country: 'NZ' }), 400, '"country"');
    });

    it('rejects a body that is not an object with 400', async () => {
      expectError(await postImpression(t, '"just a string"'), 400);
      expectError(await postImpression(t, '42'), 400);
      expectError(await postImpression(t, 'null'), 400);
    });

    it('rejects a body naming __proto__ with 400 and never pollutes Object.prototype', async () => {
      const id = await createCampaign(t);
      const raw = `{"__proto__":{"polluted":1},"campaign_id":${JSON.stringify(id)},"user_id":"u","ad_id":"a"}`;
      // Rejected by the body parser (a forbidden prototype property) or by the schema (unknown field).
      expectError(await postImpression(t, raw), 400);
      expect(({} as any).polluted).to.equal(undefined);
      expect((await stats(t, id)).total).to.equal(0);
    });

    it('rejects constructor.prototype smuggling with 400 and never pollutes Object.prototype', async () => {
      const raw = '{"constructor":{"prototype":{"polluted":1}},"campaign_id":"x","user_id":"u","ad_id":"a"}';
      expectError(await postImpression(t, raw), 400, 'constructor');
      expect(({} as any).polluted).to.equal(undefined);
    });
  });

  // The dedupe window is fixed: DEDUP_TTL from the last *counted* impression. Only Date is faked.
  describe('dedupe TTL over HTTP (sinon fake Date)', () => {
    const T0 = Date.UTC(2026, 0, 15, 10, 30, 12, 345);
    let clock: sinon.SinonFakeTimers;
    let id: string;

    beforeEach(async () => {
      clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
      await t.start({ ttlMs: HOUR });
      id = await createCampaign(t);
    });
    afterEach(() => clock.restore());

    const counted = async (user: string): Promise<boolean> => {
      const res = await postImpression(t, impression(id, user));
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body.counted;
    };

    it('treats a repeat at TTL − 1 ms as a duplicate and counts it at TTL', async () => {
      expect(await counted('u1')).to.equal(true);
      clock.setSystemTime(T0 + HOUR - 1);
      expect(await counted('u1')).to.equal(false);
      clock.setSystemTime(T0 + HOUR);
      expect(await counted('u1')).to.equal(true);
      expect((await stats(t, id)).total).to.equal(2);
    });

    it('never extends the window with duplicates', async () => {
      expect(await counted('u1')).to.equal(true);
      for (const offset of [1, HOUR / 2, HOUR - 1000, HOUR - 1]) {
        clock.setSystemTime(T0 + offset);
        expect(await counted('u1'), `at +${offset} ms`).to.equal(false);
      }
      clock.setSystemTime(T0 + HOUR);
      expect(await counted('u1')).to.equal(true);
    });

    it('restarts the window at the new counted impression', async () => {
      expect(await counted('u1')).to.equal(true);
      clock.setSystemTime(T0 + HOUR + 5000);
      expect(await counted('u1')).to.equal(true);
      clock.setSystemTime(T0 + 2 * HOUR + 4999);
      expect(await counted('u1')).to.equal(false);
      clock.setSystemTime(T0 + 2 * HOUR + 5000);
      expect(await counted('u1')).to.equal(true);
      expect(await stats(t, id)).to.include({ total: 3 });
    });

    it('keeps each user on their own window', async () => {
      expect(await counted('early')).to.equal(true);
      clock.setSystemTime(T0 + 10 * 60_000);
      expect(await counted('late')).to.equal(true);
      clock.setSystemTime(T0 + HOUR);
      expect(await counted('early')).to.equal(true);
      expect(await counted('late')).to.equal(false);
      clock.setSystemTime(T0 + HOUR + 10 * 60_000);
      expect(await counted('late')).to.equal(true);
    });

    it('honours a short configured TTL on both sides', async () => {
      await t.close();
      await t.start({ ttlMs: 500 });
      id = await createCampaign(t);
      expect(await counted('u1')).to.equal(true);
      clock.setSystemTime(T0 + 499);
      expect(await counted('u1')).to.equal(false);
      clock.setSystemTime(T0 + 500);
      expect(await counted('u1')).to.equal(true);
    });
  });

  describe('batches (an array body)', () => {
    beforeEach(async () => {
      await t.start({ batchLimit: 5 });
    });

    it('answers one result per item, in order, with counted / duplicates / rejected totals', async () => {
      const a = await createCampaign(t, { name: 'a' });
      const later = await createCampaign(t, { name: 'later', start_time: '2099-01-01T00:00:00Z' });
      await postImpression(t, impression(a, 'seen-before'));

      const single = {
        invalid: await postImpression(t, { campaign_id: a, user_id: '' }),
        unknown: await postImpression(t, impression('ghost', 'u9')),
        notStarted: await postImpression(t, impression(later, 'u9')),
      };
      expect([single.invalid.status, single.unknown.status, single.notStarted.status]).to.deep.equal([400, 404, 409]);

      const res = await postImpression(t, [
        impression(a, 'u1'),
        { campaign_id: a, user_id: '' },
        impression(a, 'seen-before'),
        impression('ghost', 'u9'),
        impression(later, 'u9'),
      ]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.deep.equal({
        results: [
          { counted: true },
          { error: single.invalid.body.error, code: 400 },
          { counted: false, duplicate: true },
          { error: single.unknown.body.error, code: 404 },
          { error: single.notStarted.body.error, code: 409 },
        ],
        counted: 1,
        duplicates: 1,
        bot_filtered: 0,
        replayed: 0,
        rejected: 3,
      });
      expect((await stats(t, a)).total).to.equal(2);
    });

    it('treats a repeat inside the same batch as a duplicate', async () => {
      const a = await createCampaign(t, { name: 'a' });
      const b = await createCampaign(t, { name: 'b' });
      const res = await postImpression(t, [impression(a, 'u1'), impression(b, 'u1'), impression(a, 'u1'), impression(a, 'u2'), impression(b, 'u1')]);
      expect(res.body).to.deep.equal({
        results: [{ counted: true }, { counted: true }, { counted: false, duplicate: true }, { counted: true }, { counted: false, duplicate: true }],
        counted: 3,
        duplicates: 2,
        bot_filtered: 0,
        replayed: 0,
        rejected: 0,
      });
      expect((await stats(t, a)).total).to.equal(2);
      expect((await stats(t, b)).total).to.equal(1);
    });

    it('never lets a bad item fail the others', async () => {
      const a = await createCampaign(t);
      const res = await postImpression(t, [42, null, impression(a, 'u1'), { ...impression(a, 'u2'), extra: 1 }, 'text']);
      expect(res.status).to.equal(200);
      expect(res.body.results[2]).to.deep.equal({ counted: true });
      for (const i of [0, 1, 3, 4]) {
        expect(res.body.results[i].code, JSON.stringify(res.body.results[i])).to.equal(400);
        expect(res.body.results[i].error).to.be.a('string').and.not.equal('');
      }
      expect(res.body.results[3].error).to.include('"extra"');
      expect(res.body).to.include({ counted: 1, duplicates: 0, rejected: 4 });
    });

    it('names the offending field in an invalid item, as a single request does', async () => {
      const a = await createCampaign(t);
      const items = [{ user_id: 'u', ad_id: 'a' }, { ...impression(a, 'u'), ad_id: 'x'.repeat(257) }, { ...impression(a, 'u'), user_id: 7 }];
      const res = await postImpression(t, items);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      for (let i = 0; i < items.length; i++) {
        const single = await postImpression(t, items[i]);
        expectError(single, 400);
        expect(res.body.results[i]).to.deep.equal({ error: single.body.error, code: 400 });
      }
      expect(res.body.results[0].error).to.include('campaign_id');
      expect(res.body.results[1].error).to.include('ad_id');
      expect(res.body.results[2].error).to.include('user_id');
    });

    it('rejects a __proto__ item with 400 without polluting Object.prototype', async () => {
      const a = await createCampaign(t);
      const raw = `[{"__proto__":{"polluted":1},"campaign_id":${JSON.stringify(a)},"user_id":"u","ad_id":"a"},${JSON.stringify(impression(a, 'v'))}]`;
      const res = await postImpression(t, raw);
      if (res.status === 200) {
        // Refused item by item: the item is a 400 and the other one counts.
        expect(res.body.results[0].code).to.equal(400);
        expect(res.body.results[1]).to.deep.equal({ counted: true });
        expect((await stats(t, a)).total).to.equal(1);
      } else {
        // Refused as a hostile body by the JSON parser: then nothing of it is counted.
        expectError(res, 400);
        expect((await stats(t, a)).total).to.equal(0);
      }
      expect(({} as any).polluted).to.equal(undefined);
    });

    it('answers a batch of only bad items with 200 and every item rejected', async () => {
      const res = await postImpression(t, [impression('ghost', 'u'), {}]);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ counted: 0, duplicates: 0, rejected: 2 });
      expect(res.body.results.map((r: { code: number }) => r.code)).to.deep.equal([404, 400]);
    });

    it('accepts a batch of exactly the limit', async () => {
      const a = await createCampaign(t);
      const res = await postImpression(t, ['u1', 'u2', 'u3', 'u4', 'u5'].map((u) => impression(a, u)));
      expect(res.status).to.equal(200);
      expect(res.body.counted).to.equal(5);
    });

    it('answers 413 for a batch over the limit and counts none of it', async () => {
      const a = await createCampaign(t);
      const res = await postImpression(t, ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((u) => impression(a, u)));
      expectError(res, 413, '5');
      expect((await stats(t, a)).total).to.equal(0);
    });

    it('answers 400 for an empty batch', async () => {
      expectError(await postImpression(t, []), 400, 'empty');
    });

    it('keeps the default limit of 10,000 when none is configured', async () => {
      await t.close();
      await t.start();
      const a = await createCampaign(t);
      const ok = await postImpression(t, Array.from({ length: 10_000 }, (_, i) => impression(a, `u${i}`)));
      expect(ok.status).to.equal(200);
      expect(ok.body.counted).to.equal(10_000);
      expectError(await postImpression(t, Array.from({ length: 10_001 }, (_, i) => impression(a, `v${i}`))), 413);
      expect((await stats(t, a)).total).to.equal(10_000);
    });
  });
  describe('text that is not well-formed Unicode', () => {
    beforeEach(async () => {
      await t.start();
    });
    const withBytes = (before: string, bytes: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);

    it('refuses invalid UTF-8 in user_id with a 400 naming it, so "u\\xff" and "u\\xfe" are never one user', async () => {
      const id = await createCampaign(t);
      for (const b of [0xff, 0xfe]) {
        const res = await postImpression(t, withBytes(`{"campaign_id":"${id}","user_id":"u`, [b], '","ad_id":"a"}'));
        expectError(res, 400, 'field "user_id"', 'not valid UTF-8');
      }
      expect((await stats(t, id)).total).to.equal(0);
      expect((await postImpression(t, impression(id, 'u\ufffd'))).body.counted, 'U+FFFD sent as such is text like any other').to.equal(true);
    });

    it('refuses a batch holding invalid UTF-8 as a whole, naming the item and field', async () => {
      const id = await createCampaign(t);
      const res = await postImpression(t, withBytes(`[${JSON.stringify(impression(id, 'u1'))},{"campaign_id":"${id}","user_id":"u2","ad_id":"`, [0xc3], '"}]'));
      expectError(res, 400, 'field "ad_id" of item 1');
      expect((await stats(t, id)).total).to.equal(0);
    });

    for (const [name, lone] of [
      ['high', '\ud800'],
      ['low', '\udc00'],
    ]) {
      it(`refuses a lone ${name} surrogate in ad_id with a 400 naming it`, async () => {
        const id = await createCampaign(t);
        expectError(await postImpression(t, impression(id, 'u1', `ad${lone}`)), 400, 'field "ad_id"', 'lone surrogate');
        expect((await stats(t, id)).total).to.equal(0);
      });
    }

    it('counts a surrogate pair (an emoji) like any character', async () => {
      const id = await createCampaign(t);
      expect((await postImpression(t, impression(id, 'u\ud83d\ude00', '😀'))).body.counted).to.equal(true);
      expect((await postImpression(t, impression(id, 'u😀'))).body.counted).to.equal(false);
    });

    it('refuses only the batch item holding a lone surrogate', async () => {
      const id = await createCampaign(t);
      const res = await postImpression(t, [impression(id, 'u1'), { ...impression(id, 'u2'), impression_id: 'i\udbff' }]);
      expect(res.status).to.equal(200);
      expect(res.body.results[0]).to.deep.equal({ counted: true });
      expect(res.body.results[1].code).to.equal(400);
      expect(res.body.results[1].error).to.include('field "impression_id"');
    });

    it('refuses a lone surrogate in a campaign name and a click field', async () => {
      expectError(await t.request('POST', '/api/v1/campaigns', { name: 'spring \udfff' }), 400, 'field "name"', 'lone surrogate');
      const id = await createCampaign(t);
      expectError(await t.request('POST', '/api/v1/clicks', { campaign_id: id, ad_id: 'a', user_agent: 'Mozilla\ud800' }), 400, 'field "user_agent"');
    });
  });
});
