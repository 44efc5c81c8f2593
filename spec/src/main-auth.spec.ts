import { expect } from 'chai';
import { exitWithin, killAll, removeTempDirs, startServer, tempDir, waitFor, type ServerProcess } from '../helpers/process.js';
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js';

const ADMIN_KEY = 'process-level-admin-key-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

async function call(server: ServerProcess, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(server.baseUrl + path, {
    method,
    headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

describe('main: API keys at process level', function () {
  this.timeout(40_000);
  afterEach(async () => {
    await killAll();
    await removeTempDirs();
  });

  it('keeps keys and revocations in DATA_DIR across a restart, and never logs a secret', async () => {
    const dataDir = await tempDir();
    const env = { ADMIN_KEY, DURABILITY: 'fsync' };
    const first = await startServer({ dataDir, env });
    const kept = await call(first, 'POST', '/api/v1/keys', { scopes: ['read'] }, admin);
    const gone = await call(first, 'POST', '/api/v1/keys', { scopes: ['read'] }, admin);
    expect((await call(first, 'DELETE', `/api/v1/keys/${gone.body.id}`, undefined, admin)).status).to.equal(200);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startServer({ dataDir, env });
    expect((await call(second, 'GET', '/api/v1/campaigns', undefined, { authorization: `Bearer ${kept.body.key}` })).status).to.equal(200);
    expect((await call(second, 'GET', '/api/v1/campaigns', undefined, { authorization: `Bearer ${gone.body.key}` })).body.error).to.equal('the API key was revoked');
    const logs = JSON.stringify([...first.logs, ...second.logs]);
    for (const secret of [ADMIN_KEY, kept.body.key, gone.body.key]) expect(logs).to.not.include(secret);
    second.child.kill('SIGTERM');
    expect((await exitWithin(second, 10_000)).code).to.equal(0);
  });

  it('warns at start when there are no keys yet, and when AUTH=off', async () => {
    const keyless = await startServer({ dataDir: await tempDir(), env: { DURABILITY: 'off' } });
    expect(keyless.logs.some((l) => l.level === 40 && l.msg.startsWith('no API keys: serving loopback clients only'))).to.equal(true);
    const open = await startServer({ dataDir: await tempDir(), env: { DURABILITY: 'off', AUTH: 'off' } });
    expect(open.logs.some((l) => l.level === 40 && l.msg.startsWith('AUTH=off'))).to.equal(true);
  });

  describe('STORE=redis, two nodes', () => {
    let redis: RedisServer;
    before(async function () {
      requireRedis(this);
      redis = await startRedis();
    });
    after(() => redis?.stop());

    it('a key made on one node works on the other, its revocation reaches the other, and a rate limit holds across both', async () => {
      const env = { ADMIN_KEY, STORE: 'redis', REDIS_URL: redis.url, RATE_LIMIT_READ: '3/h' };
      const a = await startServer({ dataDir: await tempDir(), env });
      const b = await startServer({ dataDir: await tempDir(), env });
      const made = await call(a, 'POST', '/api/v1/keys', { scopes: ['read'] }, admin);
      const read = { authorization: `Bearer ${made.body.key}` };
      await waitFor(async () => (await call(b, 'GET', '/api/v1/campaigns', undefined, read)).status === 200, 5000, 'node b to know the new key');
      // One of the read key's three allowed requests per hour went to node b just now.
      expect((await call(a, 'GET', '/api/v1/campaigns', undefined, read)).status).to.equal(200);
      expect((await call(b, 'GET', '/api/v1/campaigns', undefined, read)).status).to.equal(200);
      const over = await call(a, 'GET', '/api/v1/campaigns', undefined, read);
      expect(over.status, 'the fourth request, whichever node').to.equal(429);

      const writer = await call(a, 'POST', '/api/v1/keys', { scopes: ['write'] }, admin);
      const write = { authorization: `Bearer ${writer.body.key}` };
      const impression = { campaign_id: 'none', user_id: 'u', ad_id: 'a' };
      await waitFor(async () => (await call(b, 'POST', '/api/v1/impressions', impression, write)).status === 404, 5000, 'node b to know the write key');
      expect((await call(a, 'DELETE', `/api/v1/keys/${writer.body.id}`, undefined, admin)).status).to.equal(200);
      // Each node looks for key changes every 250 ms (KEY_POLL_MS); the bound here is only generous.
      await waitFor(async () => (await call(b, 'POST', '/api/v1/impressions', impression, write)).status === 401, 5000, 'node b to refuse the revoked key');
    });
  });
});
