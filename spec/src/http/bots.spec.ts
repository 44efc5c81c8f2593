import { expect } from 'chai';
import sinon from 'sinon';
import { isbot } from 'isbot';
import { BOTS_OFF, botsOn, MAX_USER_AGENT, VerdictCache } from '../../../src/http/bots.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { createCampaign, impression } from '../../helpers/http.js';

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const CRAWLER = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
/** A browser's agent padded to `length` characters. */
const agentOf = (length: number) => (BROWSER + ' x'.repeat(length)).slice(0, length);

describe('bot filter', () => {
  describe('per request', () => {
    it("judges the request's header once, however many items rely on it", () => {
      const judge = sinon.spy(isbot);
      const isBot = botsOn(new VerdictCache(judge)).forRequest(CRAWLER);
      for (let i = 0; i < 1000; i++) expect(isBot(undefined)).to.equal(true);
      expect(judge.callCount).to.equal(1);
    });

    it("lets an item's user_agent field speak for its viewer before the header", () => {
      const isBot = botsOn(new VerdictCache()).forRequest(CRAWLER);
      expect(isBot(BROWSER)).to.equal(false);
      expect(botsOn(new VerdictCache()).forRequest(BROWSER)(CRAWLER)).to.equal(true);
    });

    it('never judges a header that is not a browser\'s (the caller\'s own HTTP library)', () => {
      const judge = sinon.spy(isbot);
      expect(botsOn(new VerdictCache(judge)).forRequest('curl/8.5.0')(undefined)).to.equal(false);
      expect(botsOn(new VerdictCache(judge)).forRequest(undefined)(undefined)).to.equal(false);
      expect(judge.called).to.equal(false);
    });

    it('judges nothing when off', () => {
      expect(BOTS_OFF.forRequest(CRAWLER)(CRAWLER)).to.equal(false);
    });
  });

  describe('VerdictCache', () => {
    it(`judges an agent of ${MAX_USER_AGENT} characters whole and keeps its verdict; one character more is judged on its first ${MAX_USER_AGENT}, uncached`, () => {
      const judge = sinon.spy((agent: string) => agent.length > 0 && false);
      const cache = new VerdictCache(judge);
      cache.isBot(agentOf(MAX_USER_AGENT));
      cache.isBot(agentOf(MAX_USER_AGENT));
      expect(judge.callCount).to.equal(1);
      expect(judge.firstCall.args[0]).to.have.length(MAX_USER_AGENT);
      expect(cache.held).to.equal(1);

      cache.isBot(agentOf(MAX_USER_AGENT + 1));
      expect(judge.callCount).to.equal(2);
      expect(judge.secondCall.args[0]).to.equal(agentOf(MAX_USER_AGENT + 1).slice(0, MAX_USER_AGENT));
      expect(cache.held).to.equal(1);
    });
  });

  describe('over HTTP', () => {
    let t: TestApp;
    let judge: sinon.SinonSpy<[userAgent?: string | null], boolean>;
    let campaign: string;
    beforeEach(async () => {
      judge = sinon.spy(isbot);
      t = await startTestApp({ deps: () => ({ bots: botsOn(new VerdictCache(judge)) }) });
      campaign = await createCampaign(t);
    });
    afterEach(async () => {
      await t.close();
    });

    // A 16 KB header, in a request still within Node's 16 KiB header limit.
    const LONG = `${CRAWLER} ${'x'.repeat(15_000)}`;

    for (const [lane, path] of [
      ['fast lane', '/api/v1/impressions'],
      ['Koa route', '/api/v1/impressions/'],
    ]) {
      it(`${lane}: judges a 16 KB User-Agent once per batch, on its first ${MAX_USER_AGENT} characters`, async () => {
        const batch = Array.from({ length: 500 }, (_, i) => impression(campaign, `${lane}-${i}`));
        const res = await t.request('POST', path, batch, { 'user-agent': LONG });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.bot_filtered).to.equal(500);
        expect(judge.callCount).to.equal(1);
        expect(judge.firstCall.args[0]).to.have.length(MAX_USER_AGENT);
      });
    }

    it('clicks: judges a 16 KB User-Agent once per batch', async () => {
      const batch = Array.from({ length: 500 }, (_, i) => ({ campaign_id: campaign, ad_id: 'a', user_id: `c${i}` }));
      const res = await t.request('POST', '/api/v1/clicks', batch, { 'user-agent': LONG });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.bot_filtered).to.equal(500);
      expect(judge.callCount).to.equal(1);
    });
  });
});
