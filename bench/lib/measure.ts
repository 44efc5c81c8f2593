import { runLoad, type LoadResult } from '../load.js';
import type { ServerChild } from './children.js';
import { machineBusySeconds, selfCpuSeconds } from './cpu.js';
import { percentiles } from './percentiles.js';

export interface HttpRun {
  readonly load: LoadResult;
  /** CPU the server used during the measured run (user + system, all its threads). */
  readonly serverCpuS: number;
  /** CPU the bench process (the load generator) used during the run. */
  readonly loaderCpuS: number;
  /** CPU used by everything else on the machine during the run: neighbours skew wall-clock figures. */
  readonly otherCpuS: number;
  /** 2xx answers per second of wall time. */
  readonly perSecond: number;
  /** 2xx answers per second of server CPU: fair when the load generator shares the cores. */
  readonly perCpuSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** When the measured run began and ended, in monotonic µs (the clock of `.cpuprofile` files). */
  readonly windowUs: [number, number];
}

export interface HttpRunOptions {
  readonly connections: number;
  /** Sent first and not measured (JIT warm-up); use ids the measured run never uses. */
  readonly warm?: readonly Buffer[];
  readonly warmMs?: number;
  readonly requests: readonly Buffer[];
  readonly durationMs: number;
}

/** Warms a server up, then loads it and reads its CPU time around the measured run. */
export async function measureHttp(server: ServerChild, options: HttpRunOptions): Promise<HttpRun> {
  if (options.warm !== undefined && options.warm.length > 0) {
    const warm = await runLoad({ port: server.port, requests: options.warm, connections: options.connections, durationMs: options.warmMs ?? 1000 });
    if (warm.failed > 0) throw new Error(`${server.child.name}: ${warm.failed} warm-up requests failed; first: ${warm.firstError}`);
  }
  const cpu0 = server.child.cpuSeconds();
  const self0 = selfCpuSeconds();
  const machine0 = machineBusySeconds();
  const startUs = monotonicUs();
  const load = await runLoad({ port: server.port, requests: options.requests, connections: options.connections, durationMs: options.durationMs });
  const endUs = monotonicUs();
  const serverCpuS = server.child.cpuSeconds() - cpu0;
  const loaderCpuS = selfCpuSeconds() - self0;
  const otherCpuS = Math.max(0, machineBusySeconds() - machine0 - serverCpuS - loaderCpuS);
  const [p50Ms, p99Ms] = percentiles(load.latenciesMs, [50, 99]);
  return {
    load,
    serverCpuS,
    loaderCpuS,
    otherCpuS,
    perSecond: load.ok / (load.elapsedMs / 1000),
    perCpuSecond: load.ok / serverCpuS,
    p50Ms,
    p99Ms,
    windowUs: [startUs, endUs],
  };
}

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** One line for the progress log. */
export function describeRun(name: string, run: HttpRun, unit = 'req'): string {
  const { load } = run;
  return (
    `  ${name}: ${load.ok} ok, ${load.failed} failed in ${(load.elapsedMs / 1000).toFixed(1)} s; ` +
    `${Math.round(run.perSecond)} ${unit}/s, ${Math.round(run.perCpuSecond)} ${unit}/CPU-s; CPU-s server ${run.serverCpuS.toFixed(2)}, ` +
    `loader ${run.loaderCpuS.toFixed(2)}, other processes ${run.otherCpuS.toFixed(2)}; ` +
    `p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms`
  );
}
