import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import sinon from 'sinon';
import { FileKeyStore, KEYS_FILE, KEY_POLL_MS, RedisKeyStore } from '../../../src/auth/key-store.js';
import { KeyRing, MemoryKeyStore, ROOT_ID } from '../../../src/auth/keys.js';
import { nodeFs, type DiskFs } from '../../../src/storage/fs.js';
import { useRedisServer } from '../../helpers/redis.js';

const ROOT_KEY = 'the-operators-root-key-0123456789abcdef';

describe('auth/keys', () => {
  describe('KeyRing', () => {
    it('makes keys of 256 random bits with a public id, and keeps only their digest', async () => {
      const store = new MemoryKeyStore();
      const ring = new KeyRing(store);
      const { key, stored } = await ring.create({ scopes: ['read'], campaigns: ['c1'], name: 'advertiser' }, 1000);
      const m = /^ick_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(key);
      expect(m, key).to.not.equal(null);
      expect(Buffer.from(m![2], 'base64url').length * 8).to.equal(256);
      expect(stored.id).to.equal(m![1]);
      expect(JSON.stringify(await store.load())).to.not.include(m![2]);
      const principal = ring.authenticate(key);
      expect(principal).to.deep.include({ id: stored.id, admin: false, read: true, write: false });
      expect([...(principal as { campaigns: ReadonlySet<string> }).campaigns]).to.deep.equal(['c1']);
    });

    it('refuses unknown keys, a tampered secret, and revoked keys (revoked is told apart)', async () => {
      const ring = new KeyRing(new MemoryKeyStore(), ROOT_KEY);
      const { key, stored } = await ring.create({ scopes: ['write'] }, 0);
      expect(ring.authenticate(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).to.equal('unknown');
      expect(ring.authenticate('ick_ffffffffffffffff_' + 'A'.repeat(43))).to.equal('unknown');
      expect(ring.authenticate(ROOT_KEY)).to.deep.include({ id: ROOT_ID, admin: true });
      expect(ring.authenticate(ROOT_KEY.slice(1))).to.equal('unknown');
      expect(ring.authenticate(key), 'remembered once it authenticated').to.deep.include({ id: stored.id });
      expect(await ring.revoke(stored.id, 5)).to.equal(true);
      expect(ring.authenticate(key)).to.equal('revoked');
      expect(await ring.revoke(stored.id, 6), 'twice').to.equal(false);
      expect(ring.list()).to.deep.equal([]);
    });

    it('refuses a key from its expires_at on, and only then, however recently it authenticated', async () => {
      const clock = sinon.useFakeTimers({ now: 10_000, toFake: ['Date'] });
      try {
        const ring = new KeyRing(new MemoryKeyStore());
        const { key, stored } = await ring.create({ scopes: ['read'], campaigns: ['c1'], expiresAt: 70_000 }, Date.now());
        expect(stored.expiresAt).to.equal(70_000);
        expect(ring.authenticate(key)).to.deep.include({ id: stored.id, expiresAt: 70_000 });
        clock.tick(59_999);
        expect(ring.authenticate(key), 'one millisecond before').to.deep.include({ id: stored.id });
        clock.tick(1);
        expect(ring.authenticate(key), 'at the instant').to.equal('expired');
        expect(ring.authenticate(key), 'and after').to.equal('expired');
        const forever = await ring.create({ scopes: ['read'] }, Date.now());
        clock.tick(10 * 365 * 86_400_000);
        expect(ring.authenticate(forever.key), 'a key without an end').to.deep.include({ id: forever.stored.id });
      } finally {
        clock.restore();
      }
    });

    it('answers "not configured" only while there is no ADMIN_KEY and no live key', async () => {
      const ring = new KeyRing(new MemoryKeyStore());
      expect(ring.configured).to.equal(false);
      const { stored } = await ring.create({ scopes: ['read'] }, 0);
      expect(ring.configured).to.equal(true);
      await ring.revoke(stored.id, 1);
      expect(ring.configured).to.equal(false);
      expect(new KeyRing(new MemoryKeyStore(), ROOT_KEY).configured).to.equal(true);
    });

    it('does not acknowledge a key its store could not make durable', async () => {
      const ring = new KeyRing({ load: () => Promise.resolve([]), save: () => Promise.reject(new Error('EIO')) });
      let failed = false;
      await ring.create({ scopes: ['admin'] }, 0).catch(() => (failed = true));
      expect(failed).to.equal(true);
      expect(ring.list()).to.deep.equal([]);
    });
  });

  describe('FileKeyStore (DATA_DIR)', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ic-keys-'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('keeps keys and revocations across restarts', async () => {
      const first = await new KeyRing(new FileKeyStore(dir)).open();
      const kept = await first.create({ scopes: ['read'] }, 1);
      const gone = await first.create({ scopes: ['write'] }, 2);
      await first.revoke(gone.stored.id, 3);
      const second = await new KeyRing(new FileKeyStore(dir)).open();
      expect(second.authenticate(kept.key)).to.deep.include({ id: kept.stored.id, read: true });
      expect(second.authenticate(gone.key)).to.equal('revoked');
      expect(await readFile(join(dir, KEYS_FILE), 'utf8')).to.not.include(kept.key.slice(21));
    });

    it('refuses a damaged keys file rather than starting with no keys', async () => {
      const ring = await new KeyRing(new FileKeyStore(dir)).open();
      await ring.create({ scopes: ['read'] }, 1);
      const text = await readFile(join(dir, KEYS_FILE), 'utf8');
      await writeFile(join(dir, KEYS_FILE), text.replace('"read"', '"admin"'));
      let message = '';
      await new KeyRing(new FileKeyStore(dir)).open().catch((err: Error) => (message = err.message));
      expect(message).to.include('damaged');
    });

    it('writes through the file-system seam: temp file, fdatasync, rename, directory sync; a failed sync acknowledges nothing', async () => {
      const calls: string[] = [];
      let failSync = false;
      const fs: DiskFs = {
        ...nodeFs,
        async open(path, flags) {
          const file = await nodeFs.open(path, flags);
          return {
            ...file,
            writev: (b, p) => (calls.push(`write ${path.endsWith('.tmp') ? 'tmp' : 'final'}`), file.writev(b, p)),
            read: (b, o, l, p) => file.read(b, o, l, p),
            size: () => file.size(),
            truncate: (l) => file.truncate(l),
            close: () => file.close(),
            datasync: () => (calls.push('datasync'), failSync ? Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) : file.datasync()),
          };
        },
        rename: (a, b) => (calls.push('rename'), nodeFs.rename(a, b)),
        syncDir: (d) => (calls.push('syncDir'), nodeFs.syncDir(d)),
      };
      const ring = await new KeyRing(new FileKeyStore(dir, fs)).open();
      await ring.create({ scopes: ['read'] }, 1);
      expect(calls).to.deep.equal(['write tmp', 'datasync', 'rename', 'syncDir']);
      failSync = true;
      let failed = false;
      await ring.create({ scopes: ['admin'] }, 2).catch(() => (failed = true));
      expect(failed).to.equal(true);
      expect(ring.list().map((k) => k.scopes[0])).to.deep.equal(['read']);
      expect((await new KeyRing(new FileKeyStore(dir)).open()).list().length).to.equal(1);
    });
  });

  describe('RedisKeyStore (STORE=redis)', () => {
    const { connect } = useRedisServer();

    it('a key made on one node works on another; a revocation reaches it within one poll (well inside 1 s)', async () => {
      const storeB = new RedisKeyStore(connect());
      const nodeA = await new KeyRing(new RedisKeyStore(connect())).open();
      const { key, stored } = await nodeA.create({ scopes: ['write'] }, 1);
      const nodeB = await new KeyRing(storeB).open();
      expect(nodeB.authenticate(key)).to.deep.include({ id: stored.id, write: true });
      await nodeA.revoke(stored.id, 2);
      expect(nodeA.authenticate(key)).to.equal('revoked');
      await storeB.poll();
      expect(nodeB.authenticate(key)).to.equal('revoked');
      expect(KEY_POLL_MS * 2).to.be.at.most(1000);
      await nodeA.close();
      await nodeB.close();
    });
  });
});
