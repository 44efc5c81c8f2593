import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { eachLine } from '../helpers/process.js';
import { openSse, until } from '../helpers/sse.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'process-admin-key-0123456789abcdefgh';

interface Run {
  readonly child: ChildProcess;
  readonly logs: Record<string, any>[];
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** `src/main.ts` in a child process with `env`, memory only, logs parsed as they come. */
function run(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DURABILITY: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, any>[] = [];
  let err = '';
  eachLine(child.stdout, (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, any>);
    } catch {
      err += line + '\n';
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text));
  // 'close', not 'exit': 'exit' may come before the last lines of stdout have been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, logs, stderr: () => err, exited };
}

describe('main: observability at process level', function () {
  this.timeout(30_000);
  let current: Run | undefined;
  afterEach(async () => {
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    current = undefined;
  });

  it('refuses to start with the retired INSPECTOR_TOKEN, pointing to ADMIN_KEY', async () => {
    current = run({ INSPECTOR: 'on', INSPECTOR_TOKEN: 'old-inspector-token-0123' });
    expect(await current.exited).to.equal(2);
    expect(current.stderr()).to.include('INSPECTOR_TOKEN').and.include('ADMIN_KEY').and.not.include('old-inspector-token-0123');
  });

  it('logs one true start line, is ready, serves metrics and the inspector, and logs its shutdown', async () => {
    current = run({ INSPECTOR: 'on', ADMIN_KEY: TOKEN });
    const r = current;
    await until(() => r.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on ')) || r.child.exitCode !== null, 'the start line', 20_000);
    const start = r.logs.find((l) => l.msg.startsWith('listening on '))!;
    expect(start).to.include({ level: 30, host: '127.0.0.1', dedup_ttl_ms: 3_600_000, store: 'memory', durability: 'off' });
    expect(start.inspector).to.equal(`on at http://127.0.0.1:${start.port}/debug/`);
    expect(JSON.stringify(r.logs), 'the token is never logged').not.to.include(TOKEN);
    const base = `http://127.0.0.1:${start.port}`;

    expect((await fetch(`${base}/readyz`)).status).to.equal(200);
    expect((await fetch(`${base}/metrics`)).status, 'metrics are admin-only once ADMIN_KEY is set').to.equal(401);
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).to.include('nodejs_eventloop_lag_seconds').and.include('impression_counter_campaign_actors');
    expect((await fetch(`${base}/debug/actors`)).status).to.equal(401);

    // An open event stream must not hold the shutdown.
    const stream = await openSse(base, `/debug/events?token=${TOKEN}`);
    expect(stream.status).to.equal(200);
    r.child.kill('SIGTERM');
    expect(await r.exited).to.equal(0);
    await stream.ended;
    // Lines of the stream's own requests may be read after the signal was sent: look for the order.
    const messages = r.logs.map((l) => l.msg as string);
    const draining = messages.findIndex((m) => /^draining/.test(m));
    expect(draining, `a draining line in ${JSON.stringify(messages)}`).to.be.above(messages.indexOf(start.msg as string));
    expect(messages.at(-1), JSON.stringify(messages)).to.equal('stopped');
  });

  it('reports journal fsync latency with DURABILITY=fsync, and a start line that says the store is on disk', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'impression-counter-metrics-'));
    try {
      current = run({ DURABILITY: 'fsync', DATA_DIR: dataDir });
      const r = current;
      await until(() => r.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on ')) || r.child.exitCode !== null, 'the start line', 20_000);
      const start = r.logs.find((l) => l.msg.startsWith('listening on '))!;
      expect(start).to.include({ store: 'disk', durability: 'fsync', data_dir: dataDir, inspector: 'off' });
      const base = `http://127.0.0.1:${start.port}`;
      const post = (path: string, body: unknown) =>
        fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const { id } = (await (await post('/api/v1/campaigns', { name: 'c', start_time: '2000-01-01T00:00:00Z' })).json()) as { id: string };
      for (let i = 0; i < 5; i++) expect((await post('/api/v1/impressions', { campaign_id: id, user_id: `u${i}`, ad_id: 'a' })).status).to.equal(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const count = Number(/^impression_counter_journal_fsync_seconds_count (\S+)$/m.exec(metrics)?.[1]);
      expect(count, 'one fdatasync per group commit at least').to.be.at.least(1);
    } finally {
      current?.child.kill('SIGKILL');
      await current?.exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
