import { expect } from 'chai';
import sinon from 'sinon';
import { CampaignAnalytics } from '../../../actors/counting/analytics.js';
import type { SupervisionReport } from '../../../actors/registry/registry.js';
import { Campaigns } from '../../../src/use-cases/campaigns.js';
import { Impressions } from '../../../src/use-cases/impressions.js';
import { testAppSlot } from '../../helpers/app.js';
import { API, createCampaign, expectError, impression, postImpression, rawRequest, stats } from '../../helpers/http.js';

describe('errors', () => {
  const t = testAppSlot();

  describe('request bodies', () => {
    beforeEach(async () => {
      await t.start({ bodyLimitBytes: 2048 });
    });

    for (const text of ['{"campaign_id":', '{campaign_id: "x"}', "{'a':1}", '{"a":1,}', 'nope']) {
      it(`answers malformed JSON ${JSON.stringify(text)} with 400`, async () => {
        expectError(await postImpression(t, text), 400, 'JSON');
      });
    }

    it('answers an empty JSON body with 400, not a crash', async () => {
      const res = await t.request('POST', `${API}/impressions`, '');
      expect(res.status).to.be.oneOf([400, 415]);
      expectError(res, res.status);
    });

    it('answers a non-JSON content type with 415', async () => {
      const body = JSON.stringify(impression('c', 'u'));
      expectError(await t.request('POST', `${API}/impressions`, body, { 'content-type': 'text/plain' }), 415, 'application/json');
      expectError(await t.request('POST', `${API}/campaigns`, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415);
    });

    it('answers a body without a Content-Type with 415', async () => {
      const res = await rawRequest(t.baseUrl, { method: 'POST', path: `${API}/impressions`, body: JSON.stringify(impression('c', 'u')) });
      expectError(res, 415);
    });

    it('answers a POST with no body and no Content-Type with 415', async () => {
      expectError(await t.request('POST', `${API}/campaigns`), 415);
    });

    it('accepts application/json with a charset parameter', async () => {
      const res = await t.request('POST', `${API}/campaigns`, JSON.stringify({ name: 'x' }), { 'content-type': 'application/json; charset=utf-8' });
      expect(res.status).to.equal(201);
    });

    it('accepts a body of exactly the limit and answers 413 one byte over it', async () => {
      const id = await createCampaign(t);
      const json = JSON.stringify(impression(id, 'u1'));
      const exact = json + ' '.repeat(2048 - Buffer.byteLength(json));
      expect(Buffer.byteLength(exact)).to.equal(2048);
      const ok = await postImpression(t, exact);
      expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
      expectError(await postImpression(t, exact + ' '), 413);
    });

    it('answers a large body with 413', async () => {
      expectError(await postImpression(t, { ...impression('c', 'u'), ad_id: 'x'.repeat(100_000) }), 413, 'too large');
    });

    it('answers a chunked body over the limit with 413', async () => {
      const body = JSON.stringify({ ...impression('c', 'u'), ad_id: 'x'.repeat(5000) });
      const res = await rawRequest(t.baseUrl, {
        method: 'POST',
        path: `${API}/impressions`,
        headers: { 'content-type': 'application/json' },
        body,
        chunked: true,
      });
      expectError(res, 413);
    });

    it('answers an unsupported Content-Encoding with 415', async () => {
      const res = await rawRequest(t.baseUrl, {
        method: 'POST',
        path: `${API}/impressions`,
        headers: { 'content-type': 'application/json', 'content-encoding': 'x-unknown' },
        body: JSON.stringify(impression('c', 'u')),
      });
      expectError(res, 415);
    });
  });

  describe('routing', () => {
    beforeEach(async () => {
      await t.start();
    });

    for (const path of ['/nope', `${API}`, `${API}/nope`, '/api/v2/campaigns', `${API}/campaigns/x/stats/more`]) {
      it(`answers GET ${path} with 404`, async () => {
        expectError(await t.request('GET', path), 404);
      });
    }

    const wrongMethods: [string, string, string][] = [
      ['GET', `${API}/impressions`, 'POST'],
      ['DELETE', `${API}/impressions`, 'POST'],
      ['PUT', `${API}/campaigns`, 'GET'],
      ['DELETE', `${API}/campaigns`, 'POST'],
      ['PATCH', `${API}/campaigns/some-id`, 'GET'],
      ['POST', `${API}/campaigns/some-id/stats`, 'GET'],
    ];
    for (const [method, path, allowed] of wrongMethods) {
      it(`answers ${method} ${path} with 405 and an Allow header listing ${allowed}`, async () => {
        const res = await t.request(method, path);
        expectError(res, 405, method);
        const allow = (res.headers.get('allow') ?? '').split(/,\s*/);
        expect(allow).to.include(allowed);
        expect(allow).not.to.include(method);
      });
    }
  });

  describe('server errors', () => {
    beforeEach(async () => {
      await t.start();
    });

    it('answers 500 without internal text when a handler throws', async () => {
      const id = await createCampaign(t);
      sinon.stub(Campaigns.prototype, 'stats').rejects(new Error('secret detail'));
      const res = await t.request('GET', `${API}/campaigns/${id}/stats`);
      expectError(res, 500);
      expect(res.body.error).not.to.include('secret');
    });

    it('hides the text of a 5xx even when the error asks to expose it', async () => {
      const id = await createCampaign(t);
      const err = Object.assign(new Error('secret upstream address 10.0.0.7'), { status: 502, expose: true });
      sinon.stub(Campaigns.prototype, 'stats').rejects(err);
      const res = await t.request('GET', `${API}/campaigns/${id}/stats`);
      expectError(res, 502);
      expect(res.body.error).not.to.include('secret');
      expect(res.body.error).not.to.include('10.0.0.7');
    });

    it('answers 500 when something that is not an Error is thrown', async () => {
      sinon.stub(Campaigns.prototype, 'get').callsFake(() => Promise.reject('secret string'));
      const res = await t.request('GET', `${API}/campaigns/x`);
      expectError(res, 500);
      expect(res.body.error).not.to.include('secret');
    });

    it('hides internal text of a failing batch lookup too', async () => {
      sinon.stub(Impressions.prototype, 'recordMany').rejects(new TypeError('secret stack'));
      const res = await postImpression(t, [impression('c', 'u')]);
      expectError(res, 500);
      expect(res.body.error).not.to.include('secret');
    });
  });

  describe('a campaign actor that crashes', () => {
    let reports: SupervisionReport[];
    beforeEach(async () => {
      reports = [];
      await t.start({ onSupervision: (r) => reports.push(r) });
    });

    it('answers 503 with Retry-After for that impression, then keeps serving with its counts intact', async () => {
      const id = await createCampaign(t);
      for (const u of ['u1', 'u2', 'u3']) await postImpression(t, impression(id, u));

      sinon.stub(CampaignAnalytics.prototype, 'countedAt').onFirstCall().throws(new Error('secret crash')).callThrough();
      const crashed = await postImpression(t, impression(id, 'u4'));
      expectError(crashed, 503);
      expect(crashed.body.error).not.to.include('secret');
      expect(crashed.headers.get('retry-after')).to.match(/^[1-9]\d*$/);
      expect(reports).to.have.length(1);
      expect(reports[0].campaignId).to.equal(id);

      expect(await stats(t, id)).to.include({ last_hour: 3, last_day: 3, total: 3 });
      expect((await postImpression(t, impression(id, 'u5'))).body.counted).to.equal(true);
      expect((await postImpression(t, impression(id, 'u1'))).body.counted).to.equal(false);
      expect(await stats(t, id)).to.include({ last_hour: 4, last_day: 4, total: 4 });
    });

    it('counts the retry of an impression it answered 503 ("not counted, retry shortly")', async () => {
      const id = await createCampaign(t);
      sinon.stub(CampaignAnalytics.prototype, 'countedAt').onFirstCall().throws(new Error('boom')).callThrough();
      const crashed = await postImpression(t, impression(id, 'u1'));
      expectError(crashed, 503, 'retry');
      const retry = await postImpression(t, impression(id, 'u1'));
      expect(retry.status).to.equal(200);
      expect(retry.body.counted, 'the retried impression was dropped as a duplicate of one never counted').to.equal(true);
      expect((await stats(t, id)).total).to.equal(1);
    });

    it('answers only the crashed campaign\'s items 503 in a batch; the others count', async () => {
      const a = await createCampaign(t, { name: 'a' });
      const b = await createCampaign(t, { name: 'b' });
      sinon.stub(CampaignAnalytics.prototype, 'countedAt').onFirstCall().throws(new Error('secret crash')).callThrough();
      const res = await postImpression(t, [impression(a, 'u1'), impression(b, 'u1'), impression('ghost', 'u1'), impression(b, 'u2')]);
      expect(res.status).to.equal(200);
      expect(res.body.results[0].code).to.equal(503);
      expect(res.body.results[0].error).not.to.include('secret');
      expect(res.body.results.slice(1)).to.deep.equal([{ counted: true }, { error: 'campaign "ghost" not found', code: 404 }, { counted: true }]);
      expect(res.body).to.include({ counted: 2, duplicates: 0, rejected: 2 });
      expect((await stats(t, b)).total).to.equal(2);
      expect((await postImpression(t, impression(a, 'u2'))).body.counted).to.equal(true);
    });
  });
});
