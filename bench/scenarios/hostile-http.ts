import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST, startServer, type ServerChild } from '../lib/children.js';
import { percentile } from '../lib/percentiles.js';
import type { BenchContext, Check, Scenario, Section } from '../lib/types.js';

/**
 * What a hostile client costs the HTTP layer, each figure beside the same run's ordinary request:
 * a 10,000-item batch with a 16 KB User-Agent (impressions and clicks) against the same batch with a
 * short one; a time series of an unknown campaign and the costliest series allowed against a stats
 * GET; requests that walk every campaign against a page of campaigns; and RSS and a normal client's
 * latency while many connections each send 1 MiB − 1 of a 1 MiB body and stall, against the same
 * client alone.
 */
const FULL = { batches: 5, series: 40, stalled: 1000, clientMs: 14_000, requestTimeout: '10s', campaigns: 2000, walks: 20 };
const QUICK = { batches: 3, series: 20, stalled: 200, clientMs: 6_000, requestTimeout: '4s', campaigns: 500, walks: 10 };
/** Ads each campaign of the walk section shows impressions of (five users each). */
const WALK_ADS = 20;
const SHORT_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const LONG_UA = `${SHORT_UA} ${'x'.repeat(16_000 - SHORT_UA.length - 1)}`;
const BODY = 1 << 20;

export const hostileHttp: Scenario = {
  id: 'hostile-http',
  title: 'hostile clients against the HTTP layer',
  async run(ctx) {
    const p = ctx.quick ? QUICK : FULL;
    const dataDir = mkdtempSync(join(tmpdir(), 'impression-bench-'));
    const server = await startServer({
      name: 'ours',
      script: 'src/main.ts',
      env: { DATA_DIR: dataDir, DURABILITY: ctx.durability ?? 'off', REQUEST_TIMEOUT: p.requestTimeout, HEADERS_TIMEOUT: '2s' },
      maxLifetimeMs: 10 * 60_000,
    });
    ctx.log(`hostile-http: ours (pid ${server.child.pid}, port ${server.port}, REQUEST_TIMEOUT=${p.requestTimeout})`);
    try {
      const campaign = await json(server, 'POST', '/api/v1/campaigns', { name: 'hostile', start_time: '2000-01-01T00:00:00Z' });
      const id = String(campaign.id);
      return [await userAgents(ctx, server, id, p.batches), await series(ctx, server, id, p.series), await walks(ctx, server, p), await stalledBodies(ctx, server, id, p)];
    } finally {
      await server.child.stop(11_000);
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

async function json(server: ServerChild, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`http://${HOST}:${server.port}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, ...(JSON.parse(text) as object) };
}

/** Server CPU ms per call of `request`, averaged over `n` calls (CPU ticks are 10 ms). */
async function cpuPer(server: ServerChild, n: number, request: (i: number) => Promise<unknown>): Promise<number> {
  const before = server.child.cpuSeconds();
  for (let i = 0; i < n; i++) await request(i);
  return ((server.child.cpuSeconds() - before) * 1000) / n;
}

async function userAgents(ctx: BenchContext, server: ServerChild, id: string, batches: number): Promise<Section> {
  ctx.log('  10,000-item batches, short and 16 KB User-Agent');
  let run = 0;
  const statuses: number[] = [];
  const post = (kind: 'impressions' | 'clicks', ua: string) => async () => {
    run++;
    const items = Array.from({ length: 10_000 }, (_, i) => ({ campaign_id: id, ad_id: 'a', user_id: `r${run}-${i}` }));
    statuses.push((await json(server, 'POST', `/api/v1/${kind}`, items, { 'user-agent': ua })).status);
  };
  await post('impressions', SHORT_UA)(); // warm-up
  const figures = [];
  for (const kind of ['impressions', 'clicks'] as const) {
    const short = await cpuPer(server, batches, post(kind, SHORT_UA));
    const long = await cpuPer(server, batches, post(kind, LONG_UA));
    ctx.log(`  ${kind}: ${long.toFixed(0)} ms with 16 KB, ${short.toFixed(0)} ms with a short one`);
    figures.push({ name: `${kind} batch, 16 KB UA`, unit: 'ms', value: long, baselines: [{ name: 'short UA', value: short, ratioTarget: { op: '<=' as const, value: 2 } }] });
  }
  const checks: Check[] = [{ name: 'every batch answered 200', ok: statuses.every((s) => s === 200), detail: `${statuses.length} batches` }];
  return { title: 'hostile: User-Agent', figures, checks, notes: ['server CPU per 10,000-item batch, averaged over the batches (10 ms ticks)'] };
}

async function series(ctx: BenchContext, server: ServerChild, id: string, n: number): Promise<Section> {
  ctx.log('  time series: unknown campaign, costliest allowed, a stats GET');
  const DAY = 86_400_000;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const far = new Date(today - 30 * 365 * DAY).toISOString();
  const worstFrom = new Date(today - 998 * DAY).toISOString();
  const statuses = new Map<string, number>();
  const get = (name: string, path: string) => async () => {
    const res = await fetch(`http://${HOST}:${server.port}${path}`);
    await res.arrayBuffer();
    statuses.set(name, res.status);
  };
  const stats = await cpuPer(server, n, get('stats', `/api/v1/campaigns/${id}/stats`));
  const unknown = await cpuPer(server, n, get('unknown', `/api/v1/campaigns/nope/timeseries?interval=day&tz=Europe/Berlin&from=${far}`));
  const worst = await cpuPer(server, n, get('worst', `/api/v1/campaigns/${id}/timeseries?interval=day&tz=Europe/Berlin&from=${worstFrom}`));
  const refused = await cpuPer(server, n, get('refused', `/api/v1/campaigns/${id}/timeseries?interval=day&tz=Europe/Berlin&from=${far}`));
  ctx.log(`  unknown ${unknown.toFixed(1)} ms, worst ${worst.toFixed(1)} ms, refused ${refused.toFixed(1)} ms, stats ${stats.toFixed(1)} ms`);
  const vs = [{ name: 'stats GET', value: stats }];
  return {
    title: 'hostile: time series',
    figures: [
      { name: 'unknown campaign (404)', unit: 'ms', value: unknown, target: { op: '<=', value: 5 }, baselines: vs },
      { name: '1,000 Berlin days (worst allowed)', unit: 'ms', value: worst, target: { op: '<=', value: 50 }, baselines: vs },
      { name: '30 years of days (400)', unit: 'ms', value: refused, target: { op: '<=', value: 5 }, baselines: vs },
    ],
    checks: [
      {
        name: 'answers 404, 200, 400, 200',
        ok: statuses.get('unknown') === 404 && statuses.get('worst') === 200 && statuses.get('refused') === 400 && statuses.get('stats') === 200,
        detail: JSON.stringify(Object.fromEntries(statuses)),
      },
    ],
    notes: [`server CPU per request, averaged over ${n} requests (10 ms ticks)`],
  };
}

/**
 * Requests that walk every campaign (the ranking across campaigns, every registered ad) on
 * `p.campaigns` campaigns of WALK_ADS ads: server CPU per request against a page of 1,000 campaigns,
 * and the longest /healthz wait while they run against /healthz alone (a walk gives other requests
 * a turn every 250 campaigns; without that it held them for its whole length).
 */
async function walks(ctx: BenchContext, server: ServerChild, p: typeof FULL): Promise<Section> {
  ctx.log(`  walks over every campaign: ${p.campaigns} campaigns of ${WALK_ADS} ads`);
  const ids: string[] = [];
  for (let i = 0; i < p.campaigns; i += 50) {
    const made = await Promise.all(Array.from({ length: Math.min(50, p.campaigns - i) }, (_, k) => json(server, 'POST', '/api/v1/campaigns', { name: `walk-${i + k}`, start_time: '2000-01-01T00:00:00Z' })));
    ids.push(...made.map((m: { id: string }) => m.id));
  }
  const statuses = new Map<string, Set<number>>();
  const note = (name: string, status: number): void => void (statuses.get(name) ?? statuses.set(name, new Set()).get(name))?.add(status);
  for (let i = 0; i < ids.length; i += 10) {
    await Promise.all(
      ids.slice(i, i + 10).map(async (id) => {
        const items = Array.from({ length: WALK_ADS * 5 }, (_, k) => ({ campaign_id: id, user_id: `w${k}`, ad_id: `ad-${k % WALK_ADS}` }));
        note('impressions', (await json(server, 'POST', '/api/v1/impressions', items)).status);
      }),
    );
  }
  const get = (name: string, path: string) => async () => {
    const res = await fetch(`http://${HOST}:${server.port}${path}`);
    await res.arrayBuffer();
    note(name, res.status);
  };
  const list = await cpuPer(server, p.walks, get('list', '/api/v1/campaigns?limit=1000'));
  const ranking = await cpuPer(server, p.walks, get('ranking', '/api/v1/ads/analytics?window=24h'));
  const ads = await cpuPer(server, p.walks, get('ads', '/api/v1/ads'));
  const alone = await healthzWorst(server, () => new Promise((r) => setTimeout(r, 500)));
  const during = await healthzWorst(server, async () => {
    for (let i = 0; i < p.walks; i++) await get('ranking', '/api/v1/ads/analytics')();
  });
  ctx.log(`  ranking ${ranking.toFixed(1)} ms, ads ${ads.toFixed(1)} ms, list ${list.toFixed(1)} ms; longest /healthz ${during.toFixed(1)} ms during rankings, ${alone.toFixed(1)} ms alone`);
  const vs = [{ name: 'a page of 1,000 campaigns', value: list }];
  const n = p.campaigns.toLocaleString('en-US');
  return {
    title: `hostile: walks over ${n} campaigns`,
    figures: [
      { name: `ranking across ${n} campaigns × ${WALK_ADS} ads`, unit: 'ms', value: ranking, target: { op: '<=', value: 50 * (p.campaigns / 2000) }, baselines: vs },
      { name: `every registered ad (none) over ${n}`, unit: 'ms', value: ads, baselines: vs },
      // Held behind each whole ranking, /healthz waited 32.5 ms here against 6.4 ms alone (5×).
      { name: 'longest /healthz wait, rankings running', unit: 'ms', value: during, baselines: [{ name: '/healthz alone', value: alone, ratioTarget: { op: '<=', value: 3 } }] },
    ],
    checks: [
      {
        name: 'every request answered 200',
        ok: [...statuses.values()].every((set) => set.size === 1 && set.has(200)),
        detail: JSON.stringify(Object.fromEntries([...statuses].map(([k, v]) => [k, [...v]]))),
      },
    ],
    notes: [`server CPU per request, averaged over ${p.walks} requests (10 ms ticks); /healthz is asked one at a time, the wait measured by the load generator`],
  };
}

/** The longest /healthz round trip (after a few to warm the connection) while `during` runs. */
async function healthzWorst(server: ServerChild, during: () => Promise<unknown>): Promise<number> {
  let stop = false;
  let worst = 0;
  const ping = (async () => {
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      await (await fetch(`http://${HOST}:${server.port}/healthz`)).arrayBuffer();
      if (i >= 5) worst = Math.max(worst, performance.now() - t0);
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  await during();
  stop = true;
  await ping;
  return worst;
}

function rssMb(server: ServerChild): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** One impression at a time for `ms`: latencies of the 200s, and how many were not 200. */
async function normalClient(server: ServerChild, id: string, ms: number, tag: string): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    const t0 = performance.now();
    const res = await json(server, 'POST', '/api/v1/impressions', { campaign_id: id, user_id: `${tag}${i}`, ad_id: 'a' });
    if (res.status === 200) latencies.push(performance.now() - t0);
    else failed++;
  }
  return { latencies, failed };
}

async function stalledBodies(ctx: BenchContext, server: ServerChild, id: string, p: typeof FULL): Promise<Section> {
  ctx.log(`  normal client alone for ${p.clientMs / 1000} s`);
  const alone = await normalClient(server, id, p.clientMs, 'alone');
  ctx.log(`  ${p.stalled} connections each sending ${BODY - 1} bytes of a ${BODY}-byte body, then stalling`);
  const before = rssMb(server);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server))), 100);
  const sockets: Socket[] = [];
  const answers = new Map<string, number>();
  let closed = 0;
  const chunk = Buffer.alloc(BODY - 1, 0x20);
  const t0 = Date.now();
  try {
    for (let i = 0; i < p.stalled; i++) {
      const s = connect({ port: server.port, host: HOST });
      let head = '';
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => (head += head.length < 64 ? d.toString('latin1') : ''));
      s.on('close', () => {
        closed++;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 'none';
        answers.set(status, (answers.get(status) ?? 0) + 1);
      });
      s.write(`POST /api/v1/impressions HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`);
      s.write(chunk);
      sockets.push(s);
    }
    const during = await normalClient(server, id, p.clientMs, 'during');
    const deadline = Date.now() + 20_000;
    while (closed < p.stalled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const closedAfter = (Date.now() - t0) / 1000;
    ctx.log(`  RSS +${(peak - before).toFixed(0)} MB; ${closed}/${p.stalled} closed after ${closedAfter.toFixed(1)} s: ${JSON.stringify(Object.fromEntries(answers))}`);
    return {
      title: `hostile: ${p.stalled} stalled 1 MiB bodies`,
      figures: [
        { name: 'RSS added', unit: 'MB', value: peak - before, target: { op: '<=', value: 300 * (p.stalled / 1000) } },
        { name: 'normal client p99', unit: 'ms', value: percentile(during.latencies, 99), target: { op: '<=', value: 50 }, baselines: [{ name: 'no stalled bodies', value: percentile(alone.latencies, 99) }] },
        { name: 'normal client p50', unit: 'ms', value: percentile(during.latencies, 50), baselines: [{ name: 'no stalled bodies', value: percentile(alone.latencies, 50) }] },
      ],
      checks: [
        { name: 'every stalled connection closed by the server', ok: closed === p.stalled, detail: `${closed}/${p.stalled} within ${closedAfter.toFixed(1)} s; answers ${JSON.stringify(Object.fromEntries(answers))}` },
        { name: 'the normal client got only 200s', ok: during.failed === 0 && alone.failed === 0, detail: `${during.latencies.length} during, ${alone.latencies.length} alone; ${during.failed + alone.failed} not 200` },
      ],
      notes: [
        `REQUEST_TIMEOUT=${p.requestTimeout} (shorter than the default 30 s, to keep the run short); the normal client sends one impression at a time for ${p.clientMs / 1000} s`,
      ],
    };
  } finally {
    clearInterval(sampler);
    for (const s of sockets) s.destroy();
  }
}
