import { expect } from 'chai';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { createCampaign, expectError, impression, rawRequest } from '../../helpers/http.js';

// koa-bodyparser (Koa) and co-body (the fast lane) read bodies; these pin what their decoder would
// get wrong without the byte check beside it, on both paths.
describe('JSON bodies through koa-bodyparser and co-body', () => {
  let t: TestApp;
  let campaign: string;
  beforeEach(async () => {
    t = await startTestApp({ bodyLimitBytes: 4096 });
    campaign = await createCampaign(t);
  });
  afterEach(() => t.close());

  for (const [lane, path] of [
    ['fast lane', '/api/v1/impressions'],
    ['Koa route', '/api/v1/impressions/'],
  ]) {
    it(`${lane}: counts a chunked body whose emoji is split between two chunks`, async () => {
      // rawRequest cuts a chunked body in half: the half falls inside the four bytes of 😀.
      const head = `{"campaign_id":"${campaign}","ad_id":"a","user_id":"`;
      const pad = 'u'.repeat(Math.max(0, 40 - head.length));
      const body = `${head}${pad}😀${'v'.repeat(head.length + pad.length - 3)}"}`;
      expect(Buffer.from(body).subarray(0, Math.floor(Buffer.byteLength(body) / 2)).toString()).to.include('\ufffd');
      const res = await rawRequest(t.baseUrl, { method: 'POST', path, body, chunked: true, headers: { 'content-type': 'application/json' } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.include({ counted: true });
    });

    it(`${lane}: names the field of an invalid byte in a chunked body, at its offset`, async () => {
      const before = `{"campaign_id":"${campaign}","ad_id":"a","user_id":"u`;
      const body = Buffer.concat([Buffer.from(before), Buffer.from([0xff]), Buffer.from('"}')]);
      const res = await rawRequest(t.baseUrl, { method: 'POST', path, body, chunked: true, headers: { 'content-type': 'application/json' } });
      expectError(res, 400, `field "user_id" is not valid UTF-8 (invalid byte at offset ${before.length} of the body)`);
    });

    it(`${lane}: counts the byte offset from the body's first byte when it begins with a byte-order mark`, async () => {
      const before = `\ufeff{"campaign_id":"${campaign}","ad_id":"a","user_id":"u`;
      const body = Buffer.concat([Buffer.from(before), Buffer.from([0xc3]), Buffer.from('"}')]);
      const res = await rawRequest(t.baseUrl, { method: 'POST', path, body, headers: { 'content-type': 'application/json' } });
      expectError(res, 400, `field "user_id" is not valid UTF-8 (invalid byte at offset ${Buffer.byteLength(before)} of the body)`);
    });
  }

  it('skips a leading byte-order mark on both paths, as RFC 8259 allows', async () => {
    for (const [path, user] of [
      ['/api/v1/impressions', 'bom-fast'],
      ['/api/v1/impressions/', 'bom-koa'],
    ]) {
      const res = await rawRequest(t.baseUrl, { method: 'POST', path, body: `\ufeff${JSON.stringify(impression(campaign, user))}`, headers: { 'content-type': 'application/json' } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.include({ counted: true });
    }
  });
});
