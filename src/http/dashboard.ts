import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import { AppError } from '../errors.js';

/**
 * The dashboard's files: the page shell, its modules and styles (src/dashboard/, committed as they
 * are served: no build step) and uPlot, the chart library, from node_modules. All are read once at
 * start and held in memory (about 110 KB); the page fetches its data from the API with the user's key,
 * so the files themselves are public. One strict policy covers them: scripts and styles from this
 * origin only (nothing inline, nothing evaluated), requests to this origin only.
 */

const here = (name: string): string => fileURLToPath(new URL(`../dashboard/${name}`, import.meta.url));
const uplot = (name: string): string => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);

const TYPES = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' } as const;

/** Served under /dashboard/ by name: anything else is a 404. */
const SOURCES: Readonly<Record<string, string>> = {
  'index.html': here('index.html'),
  'app.js': here('app.js'),
  'api.js': here('api.js'),
  'campaign.js': here('campaign.js'),
  'style.css': here('style.css'),
  'uPlot.iife.min.js': uplot('uPlot.iife.min.js'),
  'uPlot.min.css': uplot('uPlot.min.css'),
};

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function load(): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, path] of Object.entries(SOURCES)) {
    const body = readFileSync(path);
    const type = TYPES[name.slice(name.lastIndexOf('.') + 1) as keyof typeof TYPES];
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

/** Every file the dashboard serves under /dashboard/. */
export const DASHBOARD_FILES: readonly string[] = Object.keys(SOURCES);

/** GET /, /dashboard/ and /dashboard/{file}. */
export function dashboardHandlers() {
  const assets = load();
  const send = (ctx: Context, name: string): void => {
    const asset = assets.get(name);
    if (asset === undefined) throw new AppError(404, `no dashboard file ${JSON.stringify(name)}`);
    ctx.set('Content-Security-Policy', DASHBOARD_CSP);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    // Revalidated each time (a restart may bring new files), answered 304 while unchanged.
    ctx.set('Cache-Control', 'no-cache');
    ctx.etag = asset.etag;
    ctx.type = asset.type;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = asset.body;
  };
  return {
    page: (ctx: Context): void => send(ctx, 'index.html'),
    file: (ctx: Context): void => send(ctx, String(ctx.params.file)),
  };
}
