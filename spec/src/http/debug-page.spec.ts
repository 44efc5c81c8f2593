import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { DEBUG_PAGE_CSP, DEBUG_PAGE_HTML } from '../../../src/http/debug-page.js';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { Inspector } from '../../../src/inspector.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { createCampaign, impression, postImpression } from '../../helpers/http.js';
import { until } from '../../helpers/sse.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TOKEN = 'page-admin-key-0123456789abcdefghij';

describe('inspector page (GET /debug/)', () => {
  let t: TestApp;
  let inspector: Inspector;
  before(async () => {
    t = await startTestApp({
      key: TOKEN,
      deps: (system) => {
        inspector = new Inspector({ system: system.registry.system });
        return { inspector, keys: new KeyRing(new MemoryKeyStore(), TOKEN) };
      },
    });
  });
  after(() => t.close());

  it('is one self-contained HTML document under a strict Content-Security-Policy', async () => {
    const res = await fetch(`${t.baseUrl}/debug/`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/html/);
    expect(res.headers.get('content-security-policy')).to.equal(DEBUG_PAGE_CSP);
    expect(DEBUG_PAGE_CSP).to.include("default-src 'none'").and.include("connect-src 'self'").and.not.include('unsafe');
    expect(res.headers.get('referrer-policy')).to.equal('no-referrer');
    const html = await res.text();
    expect(html).to.equal(DEBUG_PAGE_HTML);
    expect(html, 'no external assets').not.to.match(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.to.include('innerHTML');
  });

  describe('in headless Chromium', function () {
    let browser: Browser;
    before(async function () {
      if (!existsSync(CHROMIUM)) {
        // .ci/run installs Debian's chromium; a browser is never downloaded. CI never skips.
        if (process.env.CI) throw new Error(`${CHROMIUM} is not installed; CI must install it (apt-get install chromium, see .ci/run)`);
        if (this.test?.parent) this.test.parent.title += ' (SKIPPED: /usr/bin/chromium is not installed)';
        this.skip();
      }
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    });
    after(async () => {
      await browser?.close();
    });

    it('shows the actor tree and a campaign actor processing impressions live, with user ids redacted', async () => {
      const campaign = await createCampaign(t);
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('request', (r) => requests.push(r.url()));
      try {
        await page.goto(`${t.baseUrl}/debug/?token=${TOKEN}`, { timeout: 10_000 });
        const row = page.locator(`#campaigns tr[data-actor="campaign:${campaign}"]`);
        await row.waitFor({ timeout: 10_000 });
        await page.locator('#status.live').waitFor({ timeout: 10_000 });
        expect(inspector.attached, 'the open page is watching').to.equal(true);

        await postImpression(t, impression(campaign, 'alice-private-id'));
        await postImpression(t, impression(campaign, 'alice-private-id'));
        const events = page.locator(`#events li[data-actor="campaign:${campaign}"][data-type="impressions"]`);
        await events.first().waitFor({ timeout: 10_000 });
        await page.waitForFunction(
          (id) => document.querySelectorAll(`#events li[data-actor="campaign:${id}"][data-kind="snapshot"]`).length >= 2,
          campaign,
          { timeout: 10_000 },
        );
        const log = await page.locator('#events').innerText();
        expect(log).to.include('"out":["duplicate"]');
        expect(log).not.to.include('alice-private-id');
        expect(log).to.match(/user:[0-9a-f]{12}/);

        // The tree refreshes on its own: the counted impression shows up in the campaign's row.
        await page.waitForFunction(
          (id) => document.querySelector(`#campaigns tr[data-actor="campaign:${id}"] td:nth-child(5)`)?.textContent === '1',
          campaign,
          { timeout: 10_000 },
        );
        expect(problems).to.deep.equal([]);
        for (const url of requests) expect(url.startsWith(t.baseUrl), url).to.equal(true);
      } finally {
        await context.close();
      }
      // The tab is gone: nobody is watching, so the hook is detached again.
      await until(() => !inspector.attached, 'the hook to be detached after the tab closed');
    });

    it('narrows the stream when a campaign row is clicked', async () => {
      const a = await createCampaign(t);
      const b = await createCampaign(t);
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        await page.goto(`${t.baseUrl}/debug/?token=${TOKEN}`, { timeout: 10_000 });
        await page.locator(`#campaigns tr[data-actor="campaign:${a}"]`).click({ timeout: 10_000 });
        expect(await page.inputValue('#actor')).to.equal(`campaign:${a}`);
        await page.locator('#status.live').waitFor({ timeout: 10_000 });
        await page.locator('#clear').click();
        await postImpression(t, [impression(b, 'u1'), impression(a, 'u1')]);
        await page.locator(`#events li[data-actor="campaign:${a}"]`).first().waitFor({ timeout: 10_000 });
        expect(await page.locator(`#events li[data-actor="campaign:${b}"]`).count()).to.equal(0);
      } finally {
        await context.close();
      }
    });

    it('is refused with a wrong token, and nothing is watched', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        const res = await page.goto(`${t.baseUrl}/debug/?token=wrong-token-0123456789`, { timeout: 10_000 });
        expect(res?.status()).to.equal(401);
        expect(await page.locator('body').innerText()).to.include('the API key is not valid');
        expect(inspector.watching).to.equal(0);
      } finally {
        await context.close();
      }
    });
  });
});
