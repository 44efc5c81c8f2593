import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, killAll, removeTempDirs, startServer, tempDir, waitFor, type ServerProcess } from '../helpers/process.js';

/**
 * A real disk filling up under load: DATA_DIR is a small tmpfs, the real service in a child process
 * posts batches until the disk refuses, is killed (SIGKILL) while the disk is full, restarts on the
 * full disk, gets space back, and is killed and restarted again. Not one acknowledged count may be
 * lost, and nothing may be counted twice.
 */
describe('main (process level) with a full disk', function () {
  this.timeout(120_000);
  let mountPoint: string | undefined;
  let server: ServerProcess | undefined;

  before(async function () {
    const dir = join(await tempDir(), 'data');
    await mkdir(dir);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      const why = `cannot mount a small tmpfs here (${(mounted.stderr || mounted.error?.message || '').trim()})`;
      // CI runs as root on a machine that can: there this must run, never skip.
      if (process.env.CI) throw new Error(why);
      if (this.test?.parent) this.test.parent.title += ` (SKIPPED: ${why})`;
      this.skip();
    }
    mountPoint = dir;
  });
  after(async () => {
    await killAll();
    if (mountPoint) spawnSync('umount', [mountPoint]);
    await removeTempDirs();
  });

  const start = () =>
    startServer({ dataDir: mountPoint as string, env: { DURABILITY: 'fsync', SNAPSHOT_JOURNAL_BYTES: '1mb' }, readyTimeoutMs: 30_000 });

  it('refuses with 507 when full, serves reads, loses no acknowledged count across kill -9, a restart on the full disk, and space returning', async () => {
    server = await start();
    let client = new Client(server.baseUrl, 8);
    const id = await client.createCampaign('disk-full');
    const acked = new Set<string>();
    /** Users of batches answered 503 after they were processed: not acknowledged, but they may still count. */
    const maybe = new Set<string>();
    let sent = 0;
    let full = 0;

    /** Posts batches of fresh users; records every user acknowledged as counted. */
    const post = async (batches: number, size: number): Promise<number[]> => {
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let b = 0; b < batches / 4; b++) {
            const users = Array.from({ length: size }, () => `user-${sent++}-${'x'.repeat(40)}`);
            const res = await client.request('POST', '/api/v1/impressions', users.map((u) => ({ campaign_id: id, user_id: u, ad_id: 'ad' })));
            statuses.push(res.status);
            if (res.status === 200) res.body.results.forEach((r: { counted?: boolean }, i: number) => r.counted === true && acked.add(users[i]));
            if (res.status === 503) users.forEach((u) => maybe.add(u));
            if (res.status !== 200) expect(res.body, `every refusal in the JSON error shape: ${JSON.stringify(res.body)}`).to.include.keys('error', 'code');
          }
        }),
      );
      return statuses;
    };

    // Fill the disk: at most 800 batches of 1,000 users; a 3 MB tmpfs is full long before.
    // (A snapshot that fails for want of space gives its space back, so the disk may fill more than once.)
    let readyz = await client.request('GET', '/readyz');
    for (let round = 0; round < 40 && !(full > 0 && readyz.status === 503); round++) {
      const statuses = await post(20, 1000);
      full += statuses.filter((s) => s === 507).length;
      expect(statuses.every((s) => s === 200 || s === 507 || s === 503), `only 200, 503 and 507: ${statuses}`).to.equal(true);
      readyz = await client.request('GET', '/readyz');
    }
    expect(full, 'the disk filled and writes were refused with 507').to.be.above(0);
    expect(readyz.status).to.equal(503);
    expect(readyz.body.reason).to.match(/disk full/);
    /** Every acknowledged count, and nothing but those and the ones that may still count. */
    const expectTotal = async (what: string) => {
      const { total } = await client.stats(id);
      expect(total, `${what}: every acknowledged count`).to.be.at.least(acked.size);
      expect(total, `${what}: nothing counted twice or invented`).to.be.at.most(acked.size + maybe.size);
    };
    await expectTotal('reads are served while the disk is full');

    // Take the last free pages too (a failed snapshot gives some back), so the restart meets a full disk.
    await fillUp(join(mountPoint as string, 'filler'));
    // kill -9 while the disk is full, and restart on the full disk: no crash loop.
    server.child.kill('SIGKILL');
    await server.exited;
    server = await start();
    client = new Client(server.baseUrl, 8);
    await expectTotal('after kill -9 on a full disk');
    // The fill loop stops at the first 507 of a 1,000-user batch, so a few tmpfs pages may still be
    // free after the restart: small batches use them up, then writes are refused again.
    let refused = await client.request('POST', '/api/v1/impressions', { campaign_id: id, user_id: 'while-full', ad_id: 'ad' });
    if (refused.status === 200) acked.add('while-full');
    for (let i = 0; i < 100 && refused.status === 200; i++) {
      const users = Array.from({ length: 50 }, (_, k) => `left-${i}-${k}-${'x'.repeat(40)}`);
      refused = await client.request('POST', '/api/v1/impressions', users.map((u) => ({ campaign_id: id, user_id: u, ad_id: 'ad' })));
      if (refused.status === 200) refused.body.results.forEach((r: { counted?: boolean }, k: number) => r.counted === true && acked.add(users[k]));
      if (refused.status === 503) users.forEach((u) => maybe.add(u));
    }
    expect([503, 507]).to.include(refused.status);
    expect(server.child.exitCode, 'still running').to.equal(null);

    // Space returns: the service takes writes again by itself.
    expect(spawnSync('mount', ['-o', 'remount,size=64m', mountPoint as string]).status).to.equal(0);
    await waitFor(async () => (await client.request('GET', '/readyz')).status === 200, 20_000, '/readyz to be ready once space returned');
    const after = await post(8, 50);
    expect(after.every((s) => s === 200)).to.equal(true);

    server.child.kill('SIGKILL');
    await server.exited;
    server = await start();
    client = new Client(server.baseUrl, 8);
    await expectTotal('after space returned and another kill -9');
    const resend = await client.request('POST', '/api/v1/impressions', [...acked].slice(0, 500).map((u) => ({ campaign_id: id, user_id: u, ad_id: 'ad' })));
    expect(resend.body.counted, 'acknowledged users are still duplicates').to.equal(0);
    expect((await readdir(mountPoint as string)).filter((n) => n.endsWith('.tmp')), 'no leftover .tmp').to.deep.equal([]);
    client.close();
  });
});

/** Writes `path` until the file system has no page left (1 MiB writes, then 4 KiB ones). */
async function fillUp(path: string): Promise<void> {
  const file = await open(path, 'a');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      for (let i = 0; i < 100_000; i++) {
        try {
          await file.write(chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    await file.close().catch(() => undefined);
  }
}
