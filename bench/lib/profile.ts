import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO_ROOT } from './children.js';

/** Where the time went: self time by function and by module, from `.cpuprofile` files (V8 format). */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Written by `--profile` beside the profiles: when the service was under measured load. */
export const PROFILE_WINDOWS = 'bench-windows.json';

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * Summarizes every profile in `dir` written at or after `sinceMs`, counting only samples inside
 * `windowsUs` (monotonic µs) when any are given, so start-up and idle phases do not dilute the picture.
 */
export function summarizeProfiles(dir: string, sinceMs = 0, windowsUs: readonly [number, number][] = [], top = 25): string {
  const files = readdirSync(dir)
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (the others are
    // loader hook workers, idle while serving).
    .filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0')
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= sinceMs);
  if (files.length === 0) return `no .cpuprofile files in ${dir} (did the service exit cleanly?)`;

  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  const byLayer = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i]);
      const us = profile.timeDeltas[i] ?? 0;
      t += us;
      if (node === undefined || us <= 0) continue;
      if (windowsUs.length > 0 && !windowsUs.some(([from, to]) => t >= from && t <= to)) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      if (functionName === '(idle)') {
        idleUs += us;
        continue;
      }
      busyUs += us;
      const where = shortUrl(url);
      // tsx's transpiled output keeps no useful line numbers; show them only where they mean something.
      const line = lineNumber > 0 ? `:${lineNumber + 1}` : '';
      const fn = SPECIAL.has(functionName) ? functionName : `${functionName || '(anonymous)'}  ${where}${line}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
      const mod = SPECIAL.has(functionName) ? functionName : moduleOf(url);
      byModule.set(mod, (byModule.get(mod) ?? 0) + us);
      const layer = layerOf(mod);
      byLayer.set(layer, (byLayer.get(layer) ?? 0) + us);
    }
  }
  const table = (title: string, m: Map<string, number>): string[] => [
    title,
    ...[...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${((100 * us) / busyUs).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`),
  ];
  return [
    `CPU profile of the service's main thread (${files.length} file(s) in ${dir}${windowsUs.length > 0 ? `, ${windowsUs.length} measured window(s) only` : ''}): ` +
      `${(busyUs / 1e6).toFixed(2)} s busy, ${(idleUs / 1e6).toFixed(2)} s idle; shares are of busy time`,
    '',
    ...table('Self time by layer:', byLayer),
    '',
    ...table('Self time by module:', byModule),
    '',
    ...table('Self time by function:', byFunction),
  ].join('\n');
}

/** A url without local paths: `src/...`, `actors/...`, a package path, or a node: module. */
function shortUrl(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  if (path.startsWith(REPO_ROOT)) return path.slice(REPO_ROOT.length);
  return basename(path);
}

/** The package (for node_modules), the file (for our code), or the node: module. */
function moduleOf(url: string): string {
  const short = shortUrl(url);
  const path = url.startsWith('file://') ? url.slice(7) : url;
  if (path.includes('/node_modules/')) {
    const parts = short.split('/');
    return `pkg ${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  return short;
}

/** Packages that make up Koa's request path (Koa itself, its router and the helpers they call). */
const KOA_STACK = new Set([
  'koa', 'koa-compose', '@koa/router', 'delegates', 'type-is', 'on-finished', 'ee-first', 'mime-types', 'mime-db',
  'media-typer', 'content-type', 'statuses', 'http-errors', 'cookies', 'accepts', 'negotiator', 'vary', 'encodeurl',
  'escape-html', 'only', 'depd', 'fresh', 'destroy', 'http-assert', 'parseurl', 'content-disposition', 'path-to-regexp',
  'koa-convert', 'debug', 'ms', 'setprototypeof', 'toidentifier', 'inherits', 'safe-buffer',
]);

/** A coarse layer for a module: where to look when optimising. */
function layerOf(mod: string): string {
  if (mod === '(native)') return 'native code (socket writes, syscalls, V8 builtins)';
  if (SPECIAL.has(mod)) return mod;
  if (mod.startsWith('node:')) return 'node core (http, streams, events, ticks)';
  if (mod.startsWith('pkg ')) {
    const name = mod.slice(4);
    return KOA_STACK.has(name) ? 'Koa, @koa/router and their helpers' : `package ${name}`;
  }
  if (mod.startsWith('actors/')) return 'actors/ (registry, campaign, dedupe, …)';
  if (mod.startsWith('src/')) return `src/${mod.split('/')[1].replace(/\.ts$/, '')}`;
  return mod;
}
