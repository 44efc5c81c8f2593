import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, httpRequest } from '../load.js';
import { startServer, type ServerChild } from './children.js';
import { describeRun, measureHttp, type HttpRun, type HttpRunOptions } from './measure.js';
import type { BenchContext } from './types.js';

/** No server the bench starts lives longer than this, even if the bench itself hangs. */
const SERVER_MAX_MS = 10 * 60_000;

export type ServerKind = 'service' | 'bare' | 'koa';

const SCRIPTS: Record<ServerKind, string> = {
  service: 'src/main.ts',
  bare: 'bench/servers/bare.ts',
  koa: 'bench/servers/koa.ts',
};

/** Display names of the servers in tables. */
export const SERVER_NAMES: Record<ServerKind, string> = { service: 'ours', bare: 'bare node:http', koa: 'Koa' };

/**
 * Starts the real service (`node --import tsx src/main.ts` with PORT, HOST, LOG_LEVEL=warn and a
 * throw-away DATA_DIR, plus DURABILITY when `--durability` was given) or a baseline server, on a free
 * loopback port. With `--profile`, the service runs under `--cpu-prof`.
 */
export async function startKind(ctx: BenchContext, kind: ServerKind, options: { profile?: boolean } = {}): Promise<ServerChild> {
  if (kind !== 'service') {
    const server = await startServer({ name: SERVER_NAMES[kind], script: SCRIPTS[kind], maxLifetimeMs: SERVER_MAX_MS });
    ctx.log(`  started ${SERVER_NAMES[kind]} (pid ${server.child.pid}, port ${server.port})`);
    return server;
  }
  const nodeArgs = options.profile && ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] : [];
  const dataDir = mkdtempSync(join(tmpdir(), 'impression-bench-'));
  const env: Record<string, string> = { DATA_DIR: dataDir };
  if (ctx.durability !== undefined) env.DURABILITY = ctx.durability;
  const removeData = (): void => rmSync(dataDir, { recursive: true, force: true });
  let server: ServerChild;
  try {
    server = await startServer({ name: SERVER_NAMES.service, script: SCRIPTS.service, nodeArgs, env, maxLifetimeMs: SERVER_MAX_MS });
  } catch (err) {
    removeData();
    throw err;
  }
  ctx.log(`  started ours (pid ${server.child.pid}, port ${server.port}, durability ${ctx.durability ?? 'default'}${nodeArgs.length > 0 ? ', --cpu-prof' : ''})`);
  return {
    ...server,
    async stop() {
      const t0 = Date.now();
      // The service drains and snapshots on SIGTERM and promises to exit within 10 s.
      await server.child.stop(11_000);
      removeData();
      if (Date.now() - t0 > 1000) ctx.log(`  ours took ${((Date.now() - t0) / 1000).toFixed(1)} s to shut down (${server.child.describeExit().split('\n')[0]})`);
    },
  };
}

/** Creates `count` campaigns through the API and returns their ids in order. */
export async function createCampaigns(port: number, count: number, prefix: string): Promise<string[]> {
  const requests = Array.from({ length: count }, (_, i) => httpRequest('POST', '/api/v1/campaigns', JSON.stringify({ name: `${prefix}-${i}` })));
  const ids = new Array<string>(count);
  const result = await runLoad({
    port,
    requests,
    connections: Math.min(32, count),
    durationMs: 60_000,
    onResponse: (i, _status, body) => (ids[i] = (JSON.parse(body.toString()) as { id: string }).id),
  });
  if (result.ok !== count) throw new Error(`creating ${count} campaigns: ${result.ok} succeeded; first error: ${result.firstError}`);
  return ids;
}

/** Each campaign's `total` from GET /api/v1/campaigns/:id/stats. */
export async function fetchTotals(port: number, ids: readonly string[]): Promise<number[]> {
  const requests = ids.map((id) => httpRequest('GET', `/api/v1/campaigns/${encodeURIComponent(id)}/stats`));
  const totals = new Array<number>(ids.length).fill(NaN);
  const result = await runLoad({
    port,
    requests,
    connections: Math.min(16, ids.length),
    durationMs: 60_000,
    onResponse: (i, _status, body) => (totals[i] = (JSON.parse(body.toString()) as { total: number }).total),
  });
  if (result.ok !== ids.length) throw new Error(`reading stats of ${ids.length} campaigns: ${result.ok} succeeded; first error: ${result.firstError}`);
  return totals;
}

/** The same load on the two baseline servers, one after the other, each stopped after its run. */
export async function measureBaselines(ctx: BenchContext, options: HttpRunOptions, unit = 'req'): Promise<{ bare: HttpRun; koa: HttpRun }> {
  const runs: Partial<Record<'bare' | 'koa', HttpRun>> = {};
  for (const kind of ['bare', 'koa'] as const) {
    const server = await startKind(ctx, kind);
    try {
      runs[kind] = await measureHttp(server, options);
      ctx.log(describeRun(SERVER_NAMES[kind], runs[kind], unit));
    } finally {
      await server.stop();
    }
  }
  return { bare: runs.bare as HttpRun, koa: runs.koa as HttpRun };
}
