import { Redis } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '../../spec/helpers/redis.js';
import { httpRequest, runLoad, type LoadResult } from '../load.js';
import { totalsAgree } from '../lib/checks.js';
import { startServer, type ServerChild } from '../lib/children.js';
import { percentiles } from '../lib/percentiles.js';
import { createCampaigns, fetchTotals } from '../lib/servers.js';
import type { BenchContext, Check, Figure, Scenario } from '../lib/types.js';
import { batchJson, distinctPerCampaign, makeWorkload, mulberry32, type Workload } from '../lib/workload.js';

/**
 * STORE=redis against a local 3-master Redis Cluster: impressions/s through one service process and
 * through two (the load split between them), Redis memory per counted impression, and an exactness
 * run in which both processes receive the same users, shuffled and repeated, at the same time.
 */
const BATCH = 500;
const CAMPAIGNS = 32;
const CONNECTIONS_PER_NODE = 8;
const FULL = { batches: 1200, durationMs: 5000, memoryUsers: 200_000, exactUsers: 50_000 };
const QUICK = { batches: 400, durationMs: 2500, memoryUsers: 50_000, exactUsers: 10_000 };
const SERVER_MAX_MS = 6 * 60_000;

interface Run {
  readonly load: LoadResult;
  /** Requests each server was sent (a prefix of its own list). */
  readonly issued: readonly number[];
  readonly elapsedMs: number;
  readonly serverCpuS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export const redis: Scenario = {
  id: 'redis',
  title: 'scale-out on a 3-master Redis Cluster',
  async run(ctx) {
    const p = ctx.quick ? QUICK : FULL;
    ctx.log('redis: starting a local 3-master Redis Cluster');
    const cluster = await startRedisCluster(3);
    const servers: ServerChild[] = [];
    try {
      const seeds = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
      for (let i = 0; i < 2; i++) servers.push(await startNode(ctx, seeds, i));
      const [a, b] = servers;

      const ids = await createCampaigns(a.port, CAMPAIGNS * 3, 'redis');
      const requestsOf = (w: Workload, batches: number): Buffer[] =>
        Array.from({ length: batches }, (_, k) => httpRequest('POST', '/api/v1/impressions', batchJson(w, k * BATCH, (k + 1) * BATCH)));
      const workOne = makeWorkload({ count: p.batches * BATCH, campaignIds: ids.slice(0, CAMPAIGNS), duplicateShare: 0.5, seed: 71, userPrefix: 'r' });
      const workTwo = makeWorkload({ count: p.batches * BATCH, campaignIds: ids.slice(CAMPAIGNS, 2 * CAMPAIGNS), duplicateShare: 0.5, seed: 72, userPrefix: 's' });

      // Warm both processes (JIT, script cache on every master) with users the measured runs never use.
      const warm = makeWorkload({ count: 100 * BATCH, campaignIds: ids.slice(2 * CAMPAIGNS), duplicateShare: 0.5, seed: 70, userPrefix: 'w' });
      await Promise.all(servers.map((s) => runLoad({ port: s.port, requests: requestsOf(warm, 100), connections: CONNECTIONS_PER_NODE, durationMs: 2000 })));

      ctx.log(`  1 process: batches of ${BATCH} at ${CONNECTIONS_PER_NODE} connections`);
      const one = await measure([a], [requestsOf(workOne, p.batches)], p.durationMs);
      ctx.log(`  1 process: ${Math.round(one.load.ok * BATCH / (one.elapsedMs / 1000))} imp/s, server CPU ${one.serverCpuS.toFixed(2)} s`);
      const split = halves(p.batches);
      const allTwo = requestsOf(workTwo, p.batches);
      const two = await measure(servers, split.map((half) => half.map((k) => allTwo[k])), p.durationMs);
      ctx.log(`  2 processes: ${Math.round(two.load.ok * BATCH / (two.elapsedMs / 1000))} imp/s, server CPU ${two.serverCpuS.toFixed(2)} s`);
      const perSecond = (r: Run): number => (r.load.ok * BATCH) / (r.elapsedMs / 1000);

      const totalsOne = await fetchTotals(a.port, workOne.campaignIds);
      const totalsTwo = await fetchTotals(b.port, workTwo.campaignIds);
      const checks: Check[] = [
        answered('1 process', one.load),
        answered('2 processes', two.load),
        totalsAgree('1 process: total = distinct users sent', totalsOne, distinctPerCampaign(workOne, one.load.issued * BATCH)),
        totalsAgree('2 processes: total = distinct users sent', totalsTwo, distinctSent(workTwo, split.flatMap((half, i) => half.slice(0, two.issued[i])))),
      ];

      ctx.log(`  memory: ${p.memoryUsers.toLocaleString('en-US')} distinct users into one campaign`);
      const memory = await memoryPerImpression(cluster, a.port, p.memoryUsers);

      ctx.log(`  exactness: ${p.exactUsers.toLocaleString('en-US')} users, each sent 6 times, shuffled, to both processes at once`);
      const exact = await exactness(a, b, p.exactUsers);
      checks.push(exact.check);

      const figures: Figure[] = [
        { name: 'impressions/s, 1 process', unit: 'imp/s', value: perSecond(one) },
        { name: 'impressions/s, 2 processes', unit: 'imp/s', value: perSecond(two), baselines: [{ name: '1 process', value: perSecond(one), ratioTarget: { op: '>=', value: 1.7 } }] },
        { name: 'impressions per service CPU-s', unit: 'imp/CPU-s', value: (two.load.ok * BATCH) / two.serverCpuS },
        { name: 'p99 latency per batch, 2 processes', unit: 'ms', value: two.p99Ms },
        { name: 'Redis memory per counted impression', unit: 'B', value: memory.bytesPerImpression },
      ];
      return [
        {
          title: `redis: STORE=redis on a 3-master cluster, batches of ${BATCH}`,
          figures,
          checks,
          notes: [
            `~50 % repeat users over ${CAMPAIGNS} campaigns per run; ${CONNECTIONS_PER_NODE} connections per process; ` +
              'every process, the 3 Redis masters and the load generator share this machine\'s cores, so the 2-process ' +
              'ratio is bounded by the cores left over, not by the service: nodes share nothing but Redis',
            `memory: used_memory summed over the masters before and after ${p.memoryUsers.toLocaleString('en-US')} distinct ` +
              `users (15-character ids, 36-character campaign id): ${memory.detail}`,
            `exactness: ${exact.detail}`,
          ],
        },
      ];
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await cluster.stop();
    }
  },
};

async function startNode(ctx: BenchContext, seeds: string, i: number): Promise<ServerChild> {
  const server = await startServer({
    name: `ours #${i + 1} (redis)`,
    script: 'src/main.ts',
    env: { STORE: 'redis', REDIS_CLUSTER_NODES: seeds, REDIS_TIMEOUT: '2s' },
    maxLifetimeMs: SERVER_MAX_MS,
  });
  ctx.log(`  started ours #${i + 1} (pid ${server.child.pid}, port ${server.port}, STORE=redis)`);
  return server;
}

/** Loads each server with its own requests at once; one result for them all. */
async function measure(servers: readonly ServerChild[], requests: readonly Buffer[][], durationMs: number): Promise<Run> {
  const cpu0 = servers.map((s) => s.child.cpuSeconds());
  const started = performance.now();
  const loads = await Promise.all(servers.map((s, i) => runLoad({ port: s.port, requests: requests[i], connections: CONNECTIONS_PER_NODE, durationMs })));
  const elapsedMs = Math.max(...loads.map((l) => l.elapsedMs), performance.now() - started);
  const serverCpuS = servers.reduce((sum, s, i) => sum + s.child.cpuSeconds() - cpu0[i], 0);
  const latencies = Float64Array.from(loads.flatMap((l) => Array.from(l.latenciesMs.subarray(0, l.ok))));
  const [p50Ms, p99Ms] = percentiles(latencies, [50, 99]);
  const load: LoadResult = {
    issued: loads.reduce((n, l) => n + l.issued, 0),
    ok: loads.reduce((n, l) => n + l.ok, 0),
    failed: loads.reduce((n, l) => n + l.failed, 0),
    statuses: {},
    firstError: loads.find((l) => l.firstError !== undefined)?.firstError,
    elapsedMs,
    latenciesMs: latencies,
  };
  return { load, issued: loads.map((l) => l.issued), elapsedMs, serverCpuS, p50Ms, p99Ms };
}

/** Batch indices, alternately to two servers. */
function halves(batches: number): number[][] {
  const all = Array.from({ length: batches }, (_, k) => k);
  return [all.filter((k) => k % 2 === 0), all.filter((k) => k % 2 === 1)];
}

/** Distinct users per campaign among the impressions of the given batches. */
function distinctSent(w: Workload, batches: readonly number[]): number[] {
  const seen = w.campaignIds.map(() => new Set<string>());
  for (const k of batches) for (let i = k * BATCH; i < (k + 1) * BATCH; i++) seen[w.campaign[i]].add(w.users[i]);
  return seen.map((s) => s.size);
}

function answered(name: string, load: LoadResult): Check {
  return {
    name: `${name}: every request answered 2xx`,
    ok: load.failed === 0,
    detail: load.failed === 0 ? `${load.ok.toLocaleString('en-US')} batches` : `${load.failed} failed, first: ${load.firstError}`,
  };
}

async function usedMemory(cluster: RedisCluster): Promise<number> {
  let total = 0;
  for (const node of cluster.nodes) {
    const client = new Redis(node.port, node.host);
    try {
      const info = await client.info('memory');
      total += Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
    } finally {
      client.disconnect();
    }
  }
  return total;
}

async function memoryPerImpression(cluster: RedisCluster, port: number, users: number): Promise<{ bytesPerImpression: number; detail: string }> {
  const [id] = await createCampaigns(port, 1, 'redis-memory');
  const work = makeWorkload({ count: users, campaignIds: [id], duplicateShare: 0, seed: 73, userPrefix: 'm' });
  const before = await usedMemory(cluster);
  const batches = Math.ceil(users / BATCH);
  const requests = Array.from({ length: batches }, (_, k) => httpRequest('POST', '/api/v1/impressions', batchJson(work, k * BATCH, Math.min(users, (k + 1) * BATCH))));
  const load = await runLoad({ port, requests, connections: CONNECTIONS_PER_NODE, durationMs: 120_000 });
  const after = await usedMemory(cluster);
  const [total] = await fetchTotals(port, [id]);
  const bytes = (after - before) / total;
  return {
    bytesPerImpression: load.failed === 0 ? bytes : NaN,
    detail: `${((after - before) / 1024 / 1024).toFixed(1)} MiB for ${total.toLocaleString('en-US')} counted (one dedupe key each, expiring DEDUP_TTL + 1 min after it was counted)`,
  };
}

/** Both processes get every user 3 times each, all shuffled, at the same time; counted must equal distinct. */
async function exactness(a: ServerChild, b: ServerChild, users: number): Promise<{ check: Check; detail: string }> {
  const [id] = await createCampaigns(a.port, 1, 'redis-exact');
  const random = mulberry32(74);
  const items = (): string[] => {
    const list: string[] = [];
    for (let round = 0; round < 3; round++) for (let u = 0; u < users; u++) list.push(`{"campaign_id":"${id}","user_id":"x${u}","ad_id":"a"}`);
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
    return list;
  };
  const requestsFor = (list: string[]): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < list.length; i += 100) out.push(httpRequest('POST', '/api/v1/impressions', `[${list.slice(i, i + 100).join(',')}]`));
    return out;
  };
  let acknowledged = 0;
  const onResponse = (_i: number, _status: number, body: Buffer): void => {
    acknowledged += (JSON.parse(body.toString()) as { counted: number }).counted;
  };
  const loads = await Promise.all(
    [a, b].map((s) => runLoad({ port: s.port, requests: requestsFor(items()), connections: CONNECTIONS_PER_NODE, durationMs: 120_000, onResponse })),
  );
  const failed = loads.reduce((n, l) => n + l.failed, 0);
  const [totalA] = await fetchTotals(a.port, [id]);
  const [totalB] = await fetchTotals(b.port, [id]);
  const ok = failed === 0 && totalA === users && totalB === users && acknowledged === users;
  const detail = `${(6 * users).toLocaleString('en-US')} impressions of ${users.toLocaleString('en-US')} users; total ${totalA.toLocaleString('en-US')} (node 1) / ${totalB.toLocaleString('en-US')} (node 2); ${acknowledged.toLocaleString('en-US')} acknowledged as counted; ${failed} failed requests`;
  return { check: { name: 'exactness across 2 processes: counted = distinct', ok, detail }, detail };
}
