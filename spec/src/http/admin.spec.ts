import { expect } from 'chai';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import type { AcceptReport } from '../../../src/storage/redis-epoch.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, expectError } from '../../helpers/http.js';

const ADMIN_KEY = 'admin-root-key-0123456789abcdefghijkl';
const NOTHING: AcceptReport = { accepted: false, epoch: undefined, repairedSlots: 0 };

describe('http/admin', () => {
  describe('who may call it (the one key mechanism, admin scope)', () => {
    let t: TestApp | undefined;
    afterEach(() => t?.close());
    const redisAdmin = { acceptReset: () => Promise.resolve(NOTHING) };

    it('without ADMIN_KEY: loopback callers, not a client a local proxy forwards', async () => {
      t = await startTestApp({ deps: () => ({ redisAdmin }) });
      expect((await t.request('POST', `${API}/admin/redis/accept-reset`)).status).to.equal(200);
      expectError(await t.request('POST', `${API}/admin/redis/accept-reset`, undefined, { 'x-forwarded-for': '203.0.113.7' }), 401, 'ADMIN_KEY');
    });

    it('with ADMIN_KEY: that key (or another admin key), from anywhere; a read key is 403', async () => {
      const keys = new KeyRing(new MemoryKeyStore(), ADMIN_KEY);
      const read = await keys.create({ scopes: ['read'] }, 0);
      t = await startTestApp({ deps: () => ({ redisAdmin, keys }) });
      expectError(await t.request('POST', `${API}/admin/redis/accept-reset`), 401);
      expect((await t.request('POST', `${API}/admin/redis/accept-reset`, undefined, { authorization: `Bearer ${ADMIN_KEY}` })).status).to.equal(200);
      expectError(await t.request('POST', `${API}/admin/redis/accept-reset`, undefined, { authorization: `Bearer ${read.key}` }), 403, 'admin');
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
