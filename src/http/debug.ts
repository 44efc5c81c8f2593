import type { ServerResponse } from 'node:http';
import type { JSONSchemaType } from 'ajv';
import type { Context } from 'koa';
import type { Counter } from '../counter.js';
import { AppError } from '../errors.js';
import type { Inspector } from '../inspector.js';
import { describeTree } from '../metrics.js';
import { DEBUG_PAGE_CSP, DEBUG_PAGE_HTML } from './debug-page.js';
import { queryOf } from './validate.js';

/** Event streams open at once; more would multiply the per-event cost of inspection. */
export const MAX_WATCHERS = 16;
const DEFAULT_TREE_LIMIT = 1000;

export interface ActorsQuery {
  limit?: string;
  token?: string;
}

const token = { type: 'string', maxLength: 256, nullable: true, description: 'an admin API key, for clients that cannot send Authorization (EventSource)' } as const;

/** The page's query: only the key, for a browser that opens it by URL. */
export const pageTokenSchema: JSONSchemaType<{ token?: string }> = { type: 'object', additionalProperties: false, properties: { token } };

export const actorsQuerySchema: JSONSchemaType<ActorsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,5}$', nullable: true, description: 'most campaigns listed (default 1000)' },
    token,
  },
};

export interface EventsQuery {
  actor?: string;
  type?: string;
  redact?: 'on' | 'off';
  token?: string;
}

const patterns = (what: string) =>
  ({
    type: 'string',
    maxLength: 1000,
    pattern: '^[^\\s]*$',
    nullable: true,
    description: `comma-separated ${what}: exact names, prefixes ending in *, either preceded by ! to exclude`,
  }) as const;

export const eventsQuerySchema: JSONSchemaType<EventsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    actor: patterns('actor ids (registry, campaign:ID)'),
    type: patterns('inspection kinds (event, snapshot, actor) or event types (impressions, stats, tick)'),
    redact: { type: 'string', enum: ['on', 'off'], nullable: true, description: 'off shows user ids as sent (default on: a stable pseudonym)' },
    token,
  },
};

/**
 * The actor inspector under `/debug`: the page, the live tree, and the event stream. Admin scope (the
 * route table); the key may come as `?token=`, since EventSource cannot send headers.
 */
export function debugHandlers(inspector: Inspector, counter: Counter) {
  return { page, actors: actorTree(inspector, counter), events: eventStream(inspector) };
}

function page(ctx: Context): void {
  ctx.set('Content-Security-Policy', DEBUG_PAGE_CSP);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = 'html';
  ctx.body = DEBUG_PAGE_HTML;
}

function actorTree(inspector: Inspector, counter: Counter) {
  return async (ctx: Context): Promise<void> => {
    const query = queryOf<ActorsQuery>(ctx);
    const limit = query.limit === undefined ? DEFAULT_TREE_LIMIT : Number(query.limit);
    const d = await describeTree(counter.campaigns, limit);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      id: 'registry',
      campaigns: d.campaigns,
      suspended: d.suspended,
      restarts: d.restarts,
      live_keys: d.dedupeKeys,
      children: d.children.map((c) => ({
        id: c.actorId,
        campaign_id: c.id,
        status: c.suspended ? 'suspended' : 'live',
        restarts: c.restarts,
        live_keys: c.dedupeEntries,
        total: c.total,
        bytes: c.bytes,
      })),
      truncated: d.campaigns > d.children.length,
      inspector: { attached: inspector.attached, watchers: inspector.watching },
    };
  };
}

function eventStream(inspector: Inspector) {
  return (ctx: Context): void => {
    const query = queryOf<EventsQuery>(ctx);
    if (inspector.watching >= MAX_WATCHERS) {
      throw new AppError(429, `the inspector already streams to ${MAX_WATCHERS} clients; close one and retry`, { 'Retry-After': '5' });
    }
    const watcher = inspector.watch({ actors: list(query.actor), types: list(query.type), redact: query.redact !== 'off' });
    const res = openEventStream(ctx);
    watcher.stream.pipe(res);
    // Dropped as too slow or closed on shutdown: cut the connection (a graceful end would wait for
    // a client that is not reading).
    watcher.stream.on('close', () => {
      if (!res.writableEnded) res.destroy();
    });
    res.on('close', () => watcher.close());
  };
}

/**
 * Answers 200 text/event-stream and hands the response over to the caller, who writes the stream
 * outside Koa: through Koa, every client that disconnects would surface as a premature-close error
 * in the error log.
 */
export function openEventStream(ctx: Context): ServerResponse {
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.respond = false;
  ctx.res.flushHeaders();
  ctx.req.socket.setNoDelay(true);
  return ctx.res;
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').filter((p) => p !== '');
}
