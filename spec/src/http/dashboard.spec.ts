import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { DASHBOARD_CSP, DASHBOARD_FILES } from '../../../src/http/dashboard.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, rawRequest } from '../../helpers/http.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROOT = 'dashboard-admin-key-0123456789abcdefgh';
/**
 * The README's screenshots are rewritten only on request (UPDATE_SCREENSHOTS=1); any other run takes
 * them in a temporary directory, so that running the suite leaves the working tree as it found it.
 */
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
let SCREENSHOTS = fileURLToPath(new URL('../../screenshots/', import.meta.url));
const WAIT = { timeout: 10_000 };
const DESKTOP = { width: 1200, height: 900 };
const PHONE = { width: 375, height: 800 };
/** The browser's zone, which the time-zone picker starts on. */
const ZONE = 'Europe/Berlin';

describe('dashboard (GET /, /dashboard/)', function () {
  this.timeout(60_000);
  let t: TestApp;
  /** The key ring's clock: moved past a share link's end to expire it. */
  let now = Date.now();
  before(async () => {
    t = await startTestApp({ key: ROOT, deps: () => ({ keys: new KeyRing(new MemoryKeyStore(), ROOT, () => now) }) });
  });
  after(() => t.close());

  it('serves its files to anyone under a strict CSP, and weighs under 200 KB with the chart library', async () => {
    let weight = 0;
    for (const path of ['/', '/dashboard/', ...DASHBOARD_FILES.filter((f) => f !== 'index.html').map((f) => `/dashboard/${f}`)]) {
      const res = await fetch(t.baseUrl + path);
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-security-policy'), path).to.equal(DASHBOARD_CSP);
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      const body = await res.arrayBuffer();
      if (path !== '/dashboard/') weight += body.byteLength;
      // Over node:http: fetch turns a conditional request into one that bypasses caches.
      const again = await rawRequest(t.baseUrl, { method: 'GET', path, headers: { 'if-none-match': res.headers.get('etag') ?? '' } });
      expect(again.status, `${path} revalidated`).to.equal(304);
    }
    console.log(`      page weight: ${weight} bytes (HTML + JS + CSS, uPlot included)`);
    expect(weight).to.be.below(200 * 1024);
    expect(DASHBOARD_CSP).to.include("default-src 'none'").and.include("script-src 'self'").and.not.include('unsafe');
    const html = await (await fetch(`${t.baseUrl}/`)).text();
    expect(html, 'nothing inline').not.to.match(/<script>|<style>|\son\w+=/i);
    expect(html, 'nothing from elsewhere').not.to.match(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    const missing = await fetch(`${t.baseUrl}/dashboard/secret.js`);
    expect(missing.status).to.equal(404);
    expect(await missing.json()).to.deep.equal({ error: 'no dashboard file "secret.js"', code: 404 });
  });

  describe('in headless Chromium', () => {
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    const problems: string[] = [];
    before(async function () {
      if (!existsSync(CHROMIUM)) {
        // CI installs Debian's chromium; a browser is never downloaded. CI never skips.
        if (process.env.CI) throw new Error(`${CHROMIUM} is not installed; CI must install it (apt-get install chromium)`);
        if (this.test?.parent) this.test.parent.title += ' (SKIPPED: /usr/bin/chromium is not installed)';
        this.skip();
      }
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
      if (UPDATE_SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
      else SCREENSHOTS = `${await mkdtemp(join(tmpdir(), 'dashboard-screenshots-'))}/`;
    });
    after(async () => {
      for (const c of contexts) await c.close();
      await browser?.close();
      if (!UPDATE_SCREENSHOTS) await rm(SCREENSHOTS, { recursive: true, force: true, maxRetries: 3 });
    });
    afterEach(() => {
      expect(problems.splice(0), 'page errors (a CSP violation among them)').to.deep.equal([]);
    });

    /** Fails the test on the page's errors, then loads `path`. */
    const watch = async (page: Page, path: string): Promise<Page> => {
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('console', (m) => {
        // A refused request is the API's answer, shown on the page; anything else is a fault.
        if (m.type() === 'error' && !/status of 40\d|EventSource/.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      await page.goto(t.baseUrl + path, WAIT);
      return page;
    };
    /** A new tab (its own sessionStorage), with the admin key entered unless `key` is '' (a share link). */
    const open = async (path: string, key = ROOT, options: BrowserContextOptions = {}): Promise<Page> => {
      const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true, timezoneId: ZONE, ...options });
      contexts.push(context);
      if (key !== '') await context.addInitScript((k) => sessionStorage.getItem('impression-counter.key') ?? sessionStorage.setItem('impression-counter.key', k), key);
      return watch(await context.newPage(), path);
    };
    const text = (page: Page, selector: string) => page.locator(selector).innerText(WAIT);
    const api = async (path: string, init: { method?: string; body?: unknown; key?: string } = {}) =>
      (await t.request(init.method ?? 'GET', path, init.body, init.key === undefined ? {} : { authorization: `Bearer ${init.key}` })).body;

    let campaign = '';
    let shareUrl = '';

    it('creates a campaign through the page, then shows impressions posted to the API live, within 2 s and without a reload', async () => {
      const page = await open('/', '');
      expect(await text(page, '#key-state')).to.equal('no key (loopback only)');
      await page.fill('#key', ROOT);
      await page.press('#key', 'Enter');
      await page.waitForFunction(() => document.getElementById('key-state')?.textContent === 'key set for this tab', undefined, WAIT);
      await page.locator('details.manage summary').click();
      await page.fill('#new-name', 'Spring sale');
      await page.click('#create button');
      await page.waitForURL(/#\/c\//, WAIT);
      campaign = decodeURIComponent(/#\/c\/(.+)$/.exec(page.url())![1]);
      expect((await api(`${API}/campaigns/${campaign}`)).name).to.equal('Spring sale');
      await page.locator('#live.on').waitFor(WAIT);
      await page.waitForFunction(() => document.getElementById('tile-total')?.textContent === '0', undefined, WAIT);

      const loaded = await page.evaluate(() => performance.getEntriesByType('navigation').length);
      const sent = Date.now();
      const impressions = ['u1', 'u2', 'u3', 'u1'].map((u, i) => ({ campaign_id: campaign, user_id: u, ad_id: i % 2 ? 'ad-b' : 'ad-a' }));
      impressions.push({ campaign_id: campaign, user_id: 'bot', ad_id: 'ad-a', user_agent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' } as never);
      await api(`${API}/impressions`, { method: 'POST', body: impressions });
      await api(`${API}/clicks`, { method: 'POST', body: [{ campaign_id: campaign, ad_id: 'ad-a', user_id: 'u1', playback_time: 12 }, { campaign_id: campaign, ad_id: 'ad-b', user_id: 'u2', playback_time: 30 }] });
      await page.waitForFunction(() => document.getElementById('tile-total')?.textContent === '3', undefined, { timeout: 5000 });
      console.log(`      live update: the total tile changed ${Date.now() - sent} ms after the impressions were posted`);
      expect(await page.evaluate(() => performance.getEntriesByType('navigation').length), 'no reload').to.equal(loaded);
      await page.waitForFunction(() => document.getElementById('tile-clicks')?.textContent === '2', undefined, WAIT);
      expect(await text(page, '#tile-last_hour')).to.equal('3');
      expect(await text(page, '#tile-unique_users')).to.equal('3');
      expect(await text(page, '#tile-ctr')).to.equal('66.67 %');
      expect(await text(page, '#tile-avg_playback_time')).to.equal('21.0 s');
      expect(await text(page, '#q-raw_impressions')).to.equal('4');
      expect(await text(page, '#q-duplicates')).to.equal('1');
      expect(await text(page, '#q-bot_filtered')).to.equal('1');
    });

    it("draws the chart's data, and its per-ad table and CSV equal the API's figures", async () => {
      const page = await open(`/#/c/${campaign}`);
      await page.waitForFunction(() => document.getElementById('chart')?.dataset.points === '3', undefined, WAIT);
      // The impressions line's colour is on the canvas: uPlot drew the series, not only the axes.
      const drawn = await page.evaluate(() => {
        const canvas = document.querySelector('#chart canvas') as HTMLCanvasElement;
        const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < pixels.length; i += 4) if (Math.abs(pixels[i] - 37) < 12 && Math.abs(pixels[i + 1] - 99) < 12 && Math.abs(pixels[i + 2] - 235) < 12 && pixels[i + 3] > 200) n++;
        return n;
      });
      expect(drawn, 'pixels of the impressions line').to.be.greaterThan(20);

      const report = await api(`${API}/campaigns/${campaign}/analytics?window=24h&group_by=ad`);
      const expected = [...report.ads].sort((a: any, b: any) => b.impressions - a.impressions || (a.ad_id < b.ad_id ? -1 : 1));
      await page.locator('#ads tbody tr[data-ad]').first().waitFor(WAIT);
      const rows = await page.$$eval('#ads tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => (c as HTMLElement).innerText)));
      expect(rows.map((r) => r[0]).sort()).to.deep.equal(expected.map((a: any) => a.ad_id).sort());
      for (const a of expected) {
        const row = rows.find((r) => r[0] === a.ad_id)!;
        expect(row.slice(1), a.ad_id).to.deep.equal([String(a.impressions), String(a.raw_impressions), String(a.clicks), `${(a.ctr * 100).toFixed(2)} %`, String(a.unique_users), `${a.avg_playback_time.toFixed(1)} s`]);
      }
      // Sorted by clicks, the other way round (the keyboard walk below sorts by keyboard).
      await page.click('#ads thead button[data-sort="clicks"]');
      await page.click('#ads thead button[data-sort="clicks"]');
      expect(await page.getAttribute('#ads thead th:has(button[data-sort="clicks"])', 'aria-sort')).to.equal('ascending');

      const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#csv-ads')]);
      const csv = (await readFile(await download.path())).toString().trim().split('\n').map((l) => l.split(','));
      expect(csv[0]).to.deep.equal(['ad_id', 'impressions', 'raw_impressions', 'clicks', 'ctr', 'unique_users', 'avg_playback_time']);
      expect(csv.slice(1).map((r) => r[0]), 'in the order shown').to.deep.equal(rows.length ? (await page.$$eval('#ads tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.ad))) : []);
      for (const line of csv.slice(1)) {
        const a = report.ads.find((x: any) => x.ad_id === line[0]);
        expect(line.slice(1).map(Number), line[0]).to.deep.equal([a.impressions, a.raw_impressions, a.clicks, a.ctr, a.unique_users, a.avg_playback_time]);
      }
      const [series] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#csv-series')]);
      const buckets = (await readFile(await series.path())).toString().trim().split('\n').slice(1);
      expect(await page.inputValue('#tz'), "the browser's zone by default").to.equal(ZONE);
      for (const b of buckets) expect(b, 'hours in Berlin time').to.match(/^[^,]+\+0[12]:00,/);
      expect(buckets.reduce((sum, l) => sum + Number(l.split(',')[1]), 0), 'the chart CSV holds the counted impressions').to.equal(3);

      await page.screenshot({ path: `${SCREENSHOTS}campaign-desktop.png`, fullPage: true });
      await page.setViewportSize(PHONE);
      await page.waitForFunction(() => document.documentElement.scrollWidth <= 375, undefined, WAIT);
      await page.screenshot({ path: `${SCREENSHOTS}campaign-375.png`, fullPage: true });
    });

    it("draws a custom range in the chosen time zone, bucket for bucket as the API's /timeseries answers it", async () => {
      const page = await open(`/#/c/${campaign}`);
      await page.waitForFunction(() => document.getElementById('chart')?.dataset.points === '3', undefined, WAIT);
      const refreshed = () => page.evaluate(() => document.getElementById('view')?.dataset.refreshed);
      const settled = async (before: string | undefined) =>
        page.waitForFunction((b) => document.getElementById('view')?.dataset.refreshed !== b, before, WAIT);
      // Not the browser's zone, and +05:30 all year: the test writes the offset itself, and hours start at
      // :30 UTC. (Chromium's zone list, the picker's, names India's zone by its ICU name.)
      const zone = 'Asia/Calcutta';
      const wall = (ms: number): string => new Date(ms + 5.5 * 3_600_000).toISOString().slice(0, 16);
      const from = wall(Date.now() - 30 * 3_600_000);
      const to = wall(Date.now() + 2 * 3_600_000);
      let before = await refreshed();
      await page.selectOption('#tz', zone);
      await settled(before);
      await page.selectOption('#window', 'range');
      await page.fill('#from', from);
      await page.fill('#to', to);
      before = await refreshed();
      await page.click('#range button');
      await settled(before);

      // The range is read in the chosen zone, as the chart's axis shows it; 32 h is drawn by the hour.
      const q = new URLSearchParams({ interval: 'hour', from: `${from}:00+05:30`, to: `${to}:00+05:30`, tz: zone, format: 'csv' });
      const expected = await (await fetch(`${t.baseUrl}${API}/campaigns/${campaign}/timeseries?${q}`, { headers: { authorization: `Bearer ${ROOT}` } })).text();
      expect(expected.split('\n')[1], 'the API answers in Indian hours').to.match(/^\S+T\d\d:00:00\.000\+05:30,/);
      const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#csv-series')]);
      expect((await readFile(await download.path())).toString(), 'the chart CSV').to.equal(expected);
      expect(await page.getAttribute('#chart', 'data-points'), 'the drawn impressions').to.equal('3');

      // A range the API refuses: its message, as a sentence on the page.
      await page.fill('#from', to);
      await page.fill('#to', from);
      await page.click('#range button');
      await page.locator('#error:not([hidden])').waitFor(WAIT);
      expect(await text(page, '#error')).to.equal('query "from" must be before "to"');
    });

    it('in dark mode: a dark background, light text, every text readable, and a screenshot', async () => {
      const page = await open(`/#/c/${campaign}`, ROOT, { colorScheme: 'dark' });
      await page.waitForFunction(() => document.getElementById('chart')?.dataset.points === '3', undefined, WAIT);
      await page.locator('#ads tbody tr[data-ad]').first().waitFor(WAIT);
      // tsx names the functions below through a helper the page does not have.
      await page.evaluate('globalThis.__name = (f) => f');
      const seen = await page.evaluate(() => {
        const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
        // WCAG 2 relative luminance and contrast ratio.
        const lum = (c: string): number => {
          const [r, g, b] = rgb(c).slice(0, 3).map((v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const ratio = (a: string, b: string): number => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
        const backdrop = (e: Element | null): string => {
          for (; e; e = e.parentElement) {
            const bg = getComputedStyle(e).backgroundColor;
            if ((rgb(bg)[3] ?? 1) > 0) return bg;
          }
          return 'rgb(255, 255, 255)';
        };
        const unreadable: string[] = [];
        for (const e of document.querySelectorAll('body *')) {
          const own = [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== '');
          if (!(own || e.matches('input, select, button')) || e.getClientRects().length === 0 || e.closest('[hidden], option')) continue;
          const r = ratio(getComputedStyle(e).color, backdrop(e));
          if (r < 4.5) unreadable.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} "${(e.textContent ?? '').trim().slice(0, 30)}": ${r.toFixed(2)}`);
        }
        // The chart's axes are drawn on the canvas in the text's colour: light pixels, not dark ones.
        const canvas = document.querySelector('#chart canvas') as HTMLCanvasElement;
        const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let light = 0;
        let dark = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3] < 200) continue;
          const l = lum(`rgb(${px[i]}, ${px[i + 1]}, ${px[i + 2]})`);
          if (l > 0.5) light++;
          else if (l < 0.05) dark++;
        }
        return { background: lum(getComputedStyle(document.body).backgroundColor), text: lum(getComputedStyle(document.body).color), unreadable, light, dark };
      });
      expect(seen.background, 'the background is dark').to.be.below(0.05);
      expect(seen.text, 'the text is light').to.be.above(0.6);
      expect(seen.unreadable, 'text under 4.5:1 contrast').to.deep.equal([]);
      expect(seen.light, "light pixels of the chart's axis labels").to.be.greaterThan(100);
      expect(seen.dark, 'dark ink on the chart').to.be.below(seen.light / 10);
      await page.screenshot({ path: `${SCREENSHOTS}campaign-dark.png`, fullPage: true });
    });

    it('registers an ad through the page, and the ads table names it', async () => {
      const page = await open(`/#/c/${campaign}`);
      await page.locator('#ads tbody tr[data-ad="ad-a"]').waitFor(WAIT);
      await page.locator('details.manage summary').click();
      await page.fill('#ad-form input[name=id]', 'ad-a');
      await page.fill('#ad-form input[name=name]', 'Banner A');
      await page.fill('#ad-form input[name=image_url]', 'https://ads.example/a.png');
      await page.fill('#ad-form input[name=target_url]', 'https://shop.example/');
      await page.click('#ad-form button');
      await page.waitForFunction(() => document.querySelector('#ads tr[data-ad="ad-a"] th')?.textContent === 'Banner A (ad-a)', undefined, WAIT);
      const ads = await api(`${API}/campaigns/${campaign}/ads`);
      expect(ads.ads.map((a: any) => [a.id, a.name])).to.deep.equal([['ad-a', 'Banner A']]);
    });

    it('a share link opens only its campaign, read-only, and stops working once revoked', async () => {
      const admin = await open(`/#/c/${campaign}`);
      await admin.locator('details.manage summary').click();
      await admin.click('#share-form button');
      await admin.waitForFunction(() => (document.getElementById('share-link') as HTMLInputElement).value !== '', undefined, WAIT);
      shareUrl = await admin.inputValue('#share-link');
      expect(shareUrl).to.match(new RegExp(`^${t.baseUrl}/#share=ick_[0-9a-f]{16}_[^&]+&c=`));
      const keyId = /ick_([0-9a-f]{16})_/.exec(shareUrl)![1];
      const stored = (await api(`${API}/keys`)).keys.find((k: any) => k.id === keyId);
      expect(stored).to.deep.include({ scopes: ['read'], campaigns: [campaign] });
      expect(Date.parse(stored.expires_at) - Date.now()).to.be.within(86_400_000 - 60_000, 86_400_000);

      const shared = await open(shareUrl.slice(t.baseUrl.length), '');
      await shared.waitForFunction(() => document.getElementById('tile-total')?.textContent === '3', undefined, WAIT);
      expect(shared.url(), 'the key left the address bar').not.to.include('share=');
      expect(await text(shared, '#key-state')).to.equal('shared read-only view');
      expect(await shared.locator('details.manage').count(), 'no admin forms').to.equal(0);
      // Nothing but its campaign: the list route leads back to it, and the API refuses the rest.
      await shared.evaluate(() => (location.hash = '#/'));
      await shared.waitForURL(new RegExp(`#/c/${campaign}$`), WAIT);
      const status = await shared.evaluate(async () => {
        const key = sessionStorage.getItem('impression-counter.key');
        return (await fetch('/api/v1/campaigns', { headers: { Authorization: `Bearer ${key}` } })).status;
      });
      expect(status).to.equal(403);

      await api(`${API}/keys/${keyId}`, { method: 'DELETE' });
      await shared.reload();
      await shared.locator('#error:not([hidden])').waitFor(WAIT);
      expect(await text(shared, '#error')).to.include('the API key was revoked');
      expect(await text(shared, '#tile-total')).to.equal('…');
    });

    it('a share link stops working at its end, and not before', async () => {
      const made = await api(`${API}/keys`, { method: 'POST', body: { scopes: ['read'], campaigns: [campaign], expires_at: new Date(Date.now() + 3_600_000).toISOString() } });
      const page = await open(`/#share=${encodeURIComponent(made.key)}&c=${encodeURIComponent(campaign)}`, '');
      now = Date.parse(made.expires_at) - 1;
      await page.reload();
      await page.waitForFunction(() => document.getElementById('tile-total')?.textContent === '3', undefined, WAIT);
      now = Date.parse(made.expires_at);
      await page.reload();
      await page.locator('#error:not([hidden])').waitFor(WAIT);
      expect(await text(page, '#error')).to.include('the API key has expired');
      now = Date.now();
    });

    it('lists campaigns with figures and sparklines, searches them by name, and pages through them', async () => {
      for (const name of ['Winter teaser', 'Always on', 'Summer sale']) await api(`${API}/campaigns`, { method: 'POST', body: { name } });
      const page = await open('/');
      await page.locator('#campaigns[data-ready]').waitFor(WAIT);
      const row = page.locator(`#campaigns tr[data-campaign="${campaign}"]`);
      expect(await row.locator('td').allInnerTexts()).to.include.members(['3']);
      expect(await row.locator('canvas').getAttribute('data-points')).to.equal('3');
      await page.screenshot({ path: `${SCREENSHOTS}campaigns-desktop.png`, fullPage: true });
      await page.setViewportSize(PHONE);
      await page.screenshot({ path: `${SCREENSHOTS}campaigns-375.png`, fullPage: true });
      await page.fill('#search', 'SALE');
      await page.waitForFunction(() => document.querySelectorAll('#campaigns tbody tr[data-campaign]').length === 2, undefined, WAIT);
      expect(await page.locator('#campaigns tbody th a').allInnerTexts()).to.deep.equal(['Spring sale', 'Summer sale']);
      await page.fill('#search', 'nothing like it');
      await page.locator('#campaigns tbody td', { hasText: 'no campaign matches' }).waitFor(WAIT);
    });

    /** Presses Tab (or Shift+Tab) until focus is on `selector`; how many presses it took. */
    const tabTo = async (page: Page, selector: string, key = 'Tab', most = 12): Promise<number> => {
      for (let n = 1; n <= most; n++) {
        await page.keyboard.press(key);
        if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return n;
      }
      throw new Error(`${selector} not reached in ${most} presses of ${key}`);
    };
    const focused = (page: Page) => page.evaluate(() => document.activeElement?.outerHTML.slice(0, 80));

    it('works from the keyboard alone: Tab to the search, type, open a campaign, sort its ads, and back', async () => {
      const id = (await api(`${API}/campaigns`, { method: 'POST', body: { name: 'Keyboard walk' } })).id;
      await api(`${API}/impressions`, { method: 'POST', body: ['u1', 'u2', 'u3'].map((u, i) => ({ campaign_id: id, user_id: u, ad_id: i ? 'ad-b' : 'ad-a' })) });
      await api(`${API}/clicks`, { method: 'POST', body: [{ campaign_id: id, ad_id: 'ad-a', user_id: 'u1' }] });
      const page = await open('/');
      await page.locator('#campaigns[data-ready]').waitFor(WAIT);
      expect(await tabTo(page, '#search'), 'past the header: its link, the key, its two buttons').to.equal(5);
      await page.keyboard.type('keyboard');
      await page.waitForFunction(() => document.querySelectorAll('#campaigns tbody tr[data-campaign]').length === 1, undefined, WAIT);
      expect(await tabTo(page, `#campaigns a[href="#/c/${id}"]`), 'paging buttons disabled: the one match next').to.equal(1);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#view h1')?.textContent === 'Keyboard walk', undefined, WAIT);
      expect(await page.evaluate(() => document.activeElement === document.querySelector('#view h1')), `focus on the new page's heading, not ${await focused(page)}`).to.equal(true);

      await page.locator('#ads tbody tr[data-ad]').first().waitFor(WAIT);
      expect(await tabTo(page, 'button[data-sort="clicks"]'), 'window, time zone, then the ad, impressions and raw headers').to.equal(6);
      const sort = () => page.getAttribute('#ads thead th:has(button[data-sort="clicks"])', 'aria-sort');
      await page.keyboard.press('Space');
      expect(await sort()).to.equal('descending');
      expect(await page.$$eval('#ads tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.ad))).to.deep.equal(['ad-a', 'ad-b']);
      await page.keyboard.press('Enter');
      expect(await sort()).to.equal('ascending');
      expect(await page.$$eval('#ads tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.ad))).to.deep.equal(['ad-b', 'ad-a']);
      // A live update redraws the table under the keyboard: focus stays on the header it was on.
      await api(`${API}/impressions`, { method: 'POST', body: [{ campaign_id: id, user_id: 'u4', ad_id: 'ad-b' }] });
      await page.waitForFunction(() => document.querySelector('#ads tr[data-ad="ad-b"] td')?.textContent === '3', undefined, WAIT);
      expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.sort), `focus after the live redraw: ${await focused(page)}`).to.equal('clicks');
      expect(await sort()).to.equal('ascending');

      await tabTo(page, 'a[href="#/"]:not(.brand)', 'Shift+Tab');
      await page.keyboard.press('Enter');
      await page.locator('#campaigns[data-ready]').waitFor(WAIT);
      expect(await page.evaluate(() => document.activeElement === document.querySelector('#view h1')), `focus on the list's heading, not ${await focused(page)}`).to.equal(true);
      expect(await tabTo(page, '#search'), 'the search right after the heading').to.equal(1);
    });

    it('keeps a key entered once for this tab only, and shows the API refusing a key as a sentence', async () => {
      const page = await open('/', '');
      const refused = async (p: Page, message: string) => {
        await p.locator('#error:not([hidden])').waitFor(WAIT);
        const shown = await text(p, '#error');
        expect(shown, 'not the raw JSON').not.to.match(/[{}"]/);
        expect(shown).to.equal(message);
      };
      // This service has an admin key, so even loopback needs one.
      const required = 'an API key is required: send Authorization: Bearer <key>. Enter an API key above.';
      await refused(page, required);
      await page.fill('#key', 'not-a-key');
      await page.press('#key', 'Enter');
      await page.waitForFunction(() => document.getElementById('key-state')?.textContent === 'key set for this tab', undefined, WAIT);
      await refused(page, 'the API key is not valid. Enter an API key above.');

      await page.fill('#key', ROOT);
      await page.press('#key', 'Enter');
      await page.locator('#campaigns[data-ready]').waitFor(WAIT);
      expect(await page.isHidden('#error')).to.equal(true);
      expect(await page.evaluate(() => [sessionStorage.getItem('impression-counter.key'), localStorage.length]), 'in sessionStorage only').to.deep.equal([ROOT, 0]);
      await page.reload();
      await page.locator('#campaigns[data-ready]').waitFor(WAIT);
      expect(await text(page, '#key-state'), 'kept across a reload').to.equal('key set for this tab');
      expect(await page.isHidden('#error')).to.equal(true);

      // Another tab of the same browser, and another browser: neither has it.
      const tab = await watch(await page.context().newPage(), '/');
      const other = await open('/', '');
      for (const p of [tab, other]) {
        await refused(p, required);
        expect(await text(p, '#key-state')).to.equal('no key (loopback only)');
      }
      await page.click('#forget');
      await refused(page, required);
      expect(await page.evaluate(() => sessionStorage.length), 'forgotten').to.equal(0);
    });

    describe('10,000 campaigns, with the protected default (loopback, no key)', () => {
      const RUNS = 5;
      let big: TestApp;
      before(async () => {
        big = await startTestApp();
        for (let i = 0; i < 10_000; i++) {
          const c = await big.counter.campaigns.create({ name: `campaign ${String(i).padStart(5, '0')}` });
          // The first page's campaigns have figures to show: campaign i has i + 1 users.
          if (i < 20) await big.counter.impressions.recordMany(Array.from({ length: i + 1 }, (_, u) => ({ campaignId: c.id, userId: `u${u}`, adId: 'ad' })));
        }
      });
      after(() => big?.close());

      it('renders the first page, figures and sparklines included, with one request, and pages on', async () => {
        const measured: { ready: number; list: number }[] = [];
        let page!: Page;
        let calls: string[] = [];
        // Each run a new browser context: a first visit, nothing cached.
        for (let run = 0; run < RUNS; run++) {
          const context = await browser.newContext({ viewport: DESKTOP });
          contexts.push(context);
          page = await context.newPage();
          calls = [];
          page.on('request', (r) => r.url().includes('/api/') && calls.push(new URL(r.url()).pathname));
          await page.goto(`${big.baseUrl}/`, WAIT);
          await page.locator('#campaigns[data-ready]').waitFor(WAIT);
          const ready = Number(await page.getAttribute('#campaigns', 'data-ready'));
          // When the page asked for the list: what came before is the browser loading the page itself.
          const asked = await page.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/campaigns?'))?.startTime ?? NaN);
          measured.push({ ready, list: ready - asked });
        }
        const ms = (xs: number[]): string => `${xs.map((x) => x.toFixed(0)).join(', ')} ms (median ${[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(0)} ms)`;
        console.log(`      10,000 campaigns, ${RUNS} runs: first page complete (rows, figures, sparklines) ${ms(measured.map((m) => m.ready))} after navigation; ${ms(measured.map((m) => m.list))} of it from the list request on`);
        const first = page.locator('#campaigns tbody tr').nth(19);
        expect(await first.locator('td.n').allInnerTexts(), "the 20th campaign's total, last hour, last day").to.deep.equal(['20', '20', '20']);
        expect(await first.locator('canvas').getAttribute('data-points')).to.equal('20');
        const names = await page.locator('#campaigns tbody th a').allInnerTexts();
        expect(names).to.deep.equal(Array.from({ length: 20 }, (_, i) => `campaign ${String(i).padStart(5, '0')}`));
        expect(calls, 'one call: the list with its figures').to.deep.equal(['/api/v1/campaigns']);
        await page.click('#next');
        await page.waitForFunction(() => document.querySelector('#campaigns tbody th a')?.textContent === 'campaign 00020', undefined, WAIT);
        expect(await text(page, '#page-status')).to.equal('page 2');
      });
    });
  });
});
