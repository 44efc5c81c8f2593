import { connect, type Socket } from 'node:net';
import { expect } from 'chai';
import { BodyBudget, SMALL_BODY_BYTES } from '../../../src/http/body-budget.js';
import { testAppSlot } from '../../helpers/app.js';
import { createCampaign, expectError, impression } from '../../helpers/http.js';

describe('BodyBudget', () => {
  const KIB = 1024;

  it('lets a large body grow up to the budget less the reserve, not a byte more', () => {
    const budget = new BodyBudget(128 * KIB);
    expect(budget.reserveBytes).to.equal(16 * KIB);
    expect(budget.grow(0, 112 * KIB + 1)).to.equal(false);
    expect(budget.used).to.equal(0);
    expect(budget.refused, 'refusals counted for /metrics').to.equal(1);
    expect(budget.grow(0, 112 * KIB)).to.equal(true);
    expect(budget.used).to.equal(112 * KIB);
    expect(budget.refused).to.equal(1);
  });

  it('lets small bodies (up to SMALL_BODY_BYTES) use the reserve, up to the whole budget', () => {
    const budget = new BodyBudget(128 * KIB);
    expect(budget.grow(0, 112 * KIB)).to.equal(true);
    expect(budget.grow(0, SMALL_BODY_BYTES + 1)).to.equal(false);
    expect(budget.grow(0, SMALL_BODY_BYTES)).to.equal(true);
    expect(budget.used).to.equal(128 * KIB);
    expect(budget.grow(0, 1)).to.equal(false);
  });

  it('grows a reservation by the difference only, and gives back the whole of it', () => {
    const budget = new BodyBudget(128 * KIB);
    expect(budget.grow(0, 1000)).to.equal(true);
    expect(budget.grow(1000, 1500)).to.equal(true);
    expect(budget.grow(1500, 1500)).to.equal(true);
    expect(budget.used).to.equal(1500);
    budget.release(1500);
    expect(budget.used).to.equal(0);
  });
});

describe('body buffer budget over HTTP (fast lane and Koa share it)', () => {
  // 64 KiB: large bodies may hold 56 KiB, the last 8 KiB are kept for small ones. A stalled body
  // holds 45 KiB of it in each case.
  let budget: BodyBudget;
  let campaign: string;
  const sockets: Socket[] = [];
  const t = testAppSlot();

  beforeEach(async () => {
    budget = new BodyBudget(64 * 1024);
    await t.start({ bodyLimitBytes: 60 * 1024, deps: () => ({ bodyBudget: budget }) });
    campaign = await createCampaign(t);
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  /** Sends the headers of a POST declaring `length` bytes of body, and `sent` of them; never finishes. */
  async function stall(path: string, length: number, sent = 0): Promise<Socket> {
    const url = new URL(t.baseUrl);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${'['.repeat(sent)}`);
    return socket;
  }

  async function until(ok: () => boolean, what: string): Promise<void> {
    const end = Date.now() + 2000;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  const big = (user: string) => [{ ...impression(campaign, user), ad_id: 'a'.repeat(200) }, ...Array.from({ length: 80 }, (_, i) => impression(campaign, `${user}-${i}`))];

  for (const [lane, path] of [
    ['fast lane', '/api/v1/impressions'],
    ['Koa route', '/api/v1/impressions/'],
  ]) {
    it(`${lane}: a large body that does not fit → 503 with Retry-After and Connection: close; a small one is still served`, async () => {
      await stall(path, 45 * 1024, 10);
      await until(() => budget.used === 45 * 1024, 'the stalled body to reserve its length');

      const body = JSON.stringify(big('u'));
      expect(body.length).to.be.greaterThan(SMALL_BODY_BYTES / 4).and.lessThan(10 * 1024);
      const refused = await t.request('POST', path, `${body}${' '.repeat(SMALL_BODY_BYTES - body.length + 1)}`);
      expectError(refused, 503, 'BODY_BUFFER_BUDGET');
      expect(refused.headers.get('retry-after')).to.equal('1');
      expect(refused.headers.get('connection')).to.equal('close');

      const small = await t.request('POST', path, `${body}${' '.repeat(SMALL_BODY_BYTES - body.length)}`);
      expect(small.status, JSON.stringify(small.body)).to.equal(200);
      expect(budget.used).to.equal(45 * 1024);
    });

    it(`${lane}: a client that vanishes mid-body gives its reservation back`, async () => {
      const socket = await stall(path, 45 * 1024, 10);
      await until(() => budget.used === 45 * 1024, 'the stalled body to reserve its length');
      socket.destroy();
      await until(() => budget.used === 0, 'the reservation to be released');
      const res = await t.request('POST', path, JSON.stringify(big('v')).padEnd(40 * 1024, ' '));
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(budget.used).to.equal(0);
    });
  }

  it('a chunked body reserves as it grows, and is refused once it outgrows the budget', async () => {
    await stall('/api/v1/impressions', 45 * 1024, 10);
    await until(() => budget.used === 45 * 1024, 'the stalled body to reserve its length');
    const url = new URL(t.baseUrl);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    sockets.push(socket);
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    const chunk = ' '.repeat(4096);
    socket.write(`POST /api/v1/impressions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    for (let i = 0; i < 5; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await until(() => text.includes('\r\n\r\n{'), 'an answer');
    expect(text).to.match(/^HTTP\/1\.1 503/);
    expect(text).to.include('BODY_BUFFER_BUDGET');
    await until(() => budget.used === 45 * 1024, 'the refused body to give its bytes back');
  });
});
