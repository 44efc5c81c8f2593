import { expect } from 'chai';
import type { Context } from 'koa';
import { operatorOnly } from '../../../src/http/admin.js';
import type { AcceptReport } from '../../../src/storage/redis-epoch.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, expectError } from '../../helpers/http.js';

const TOKEN = 'a-sixteen-char-token';

/** A Koa context as far as the guard looks at it. */
function ctx(remoteAddress: string, authorization = ''): Context {
  return { req: { socket: { remoteAddress } }, get: (name: string) => (name === 'Authorization' ? authorization : '') } as unknown as Context;
}

async function outcome(guard: ReturnType<typeof operatorOnly>, c: Context): Promise<number> {
  let passed = false;
  try {
    await guard(c, () => {
      passed = true;
      return Promise.resolve();
    });
  } catch (err) {
    return (err as { status: number }).status;
  }
  return passed ? 200 : 0;
}

describe('http/admin', () => {
  describe('the operator guard', () => {
    it('lets loopback callers in, with or without a token configured', async () => {
      for (const token of ['', TOKEN]) {
        for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.9.9.9']) expect(await outcome(operatorOnly(token), ctx(address)), `${address} ${token}`).to.equal(200);
      }
    });

    it('refuses callers beyond loopback (403) unless they bring the configured token; a wrong token is 401', async () => {
      expect(await outcome(operatorOnly(''), ctx('10.1.2.3'))).to.equal(403);
      expect(await outcome(operatorOnly(''), ctx('10.1.2.3', `Bearer ${TOKEN}`)), 'no token configured: loopback only').to.equal(403);
      expect(await outcome(operatorOnly(TOKEN), ctx('10.1.2.3'))).to.equal(403);
      expect(await outcome(operatorOnly(TOKEN), ctx('10.1.2.3', `Bearer ${TOKEN}`))).to.equal(200);
      expect(await outcome(operatorOnly(TOKEN), ctx('10.1.2.3', `Bearer ${TOKEN}x`))).to.equal(401);
      expect(await outcome(operatorOnly(TOKEN), ctx('127.0.0.1', 'Bearer wrong-token-here'))).to.equal(401);
    });
  });

  describe('POST /api/v1/admin/redis/accept-reset', () => {
    let t: TestApp | undefined;
    afterEach(() => t?.close());

    it('answers what the store reports, in snake case', async () => {
      const reports: AcceptReport[] = [
        { accepted: true, epoch: 'e1', repairedSlots: 7 },
        { accepted: false, epoch: undefined, repairedSlots: 0 },
      ];
      t = await startTestApp({ deps: () => ({ redisAdmin: { acceptReset: () => Promise.resolve(reports.shift() as AcceptReport) } }) });
      const first = await t.request('POST', `${API}/admin/redis/accept-reset`);
      expect(first.status).to.equal(200);
      expect(first.body).to.deep.include({ accepted: true, epoch: 'e1', repaired_slots: 7 });
      const second = await t.request('POST', `${API}/admin/redis/accept-reset`);
      expect(second.body).to.deep.include({ accepted: false, epoch: null, repaired_slots: 0 });
      expect(second.body.message).to.match(/^nothing to accept/);
    });

    it('does not exist without a Redis store', async () => {
      t = await startTestApp();
      expectError(await t.request('POST', `${API}/admin/redis/accept-reset`), 404);
    });
  });
});
