import type { ServerResponse } from 'node:http';
import type { JSONSchemaType } from 'ajv';
import type { Context } from 'koa';
import { Counter as PromCounter, Gauge, type Registry } from 'prom-client';
import type { Counter } from '../counter.js';
import { AppError } from '../errors.js';
import { countsJson } from './campaigns.js';
import { figuresJson } from './analytics.js';
import { openEventStream } from './debug.js';

/**
 * Live figures for the dashboard: `GET /campaigns/{id}/events`, a Server-Sent Events stream of one
 * campaign's counts. A campaign is read once per period while at least one stream watches it (every
 * open page of it shares that one read), and an event is sent only when the figures changed: at most
 * one per period per page, and nothing at all (no timer, no read) while nobody watches. Reading the
 * figures, rather than hooking the ingest path, keeps the hot path untouched and sees impressions
 * counted by other nodes of a Redis deployment too.
 */

/** Streams open at once across campaigns: each is a socket and a share of a read per period. */
export const MAX_LIVE_STREAMS = 64;
/** How often a watched campaign is read: the "at most one update per second" of an open page. */
export const LIVE_PERIOD_MS = 1000;
/** A client this far behind (bytes queued for it) is cut: it is not reading. */
const MAX_BACKLOG = 64 * 1024;
/** A comment this often, so that proxies and the browser see a live connection while nothing changes. */
const KEEPALIVE_PERIODS = 15;

export interface LiveQuery {
  token?: string;
}

export const liveQuerySchema: JSONSchemaType<LiveQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: { token: { type: 'string', maxLength: 256, nullable: true, description: 'an API key, for clients that cannot send Authorization (EventSource)' } },
};

interface Watched {
  readonly streams: Set<ServerResponse>;
  readonly timer: NodeJS.Timeout;
  last: string;
  idle: number;
  reading: boolean;
}

export interface LiveOptions {
  readonly maxStreams?: number;
  readonly periodMs?: number;
  readonly registry?: Registry;
}

export class LiveFigures {
  private readonly watched = new Map<string, Watched>();
  private readonly maxStreams: number;
  private readonly periodMs: number;
  private readonly open: Gauge;
  private readonly refused: PromCounter;
  private streams = 0;

  constructor(
    private readonly counter: Counter,
    options: LiveOptions = {},
  ) {
    this.maxStreams = options.maxStreams ?? MAX_LIVE_STREAMS;
    this.periodMs = options.periodMs ?? LIVE_PERIOD_MS;
    const registers = options.registry ? [options.registry] : [];
    this.open = new Gauge({ name: 'impression_counter_live_streams', help: 'Dashboard live-figure streams open now (at most MAX_LIVE_STREAMS).', registers });
    this.refused = new PromCounter({ name: 'impression_counter_live_streams_refused_total', help: 'Live-figure streams refused with 429 because MAX_LIVE_STREAMS were open.', registers });
  }

  /** Campaigns read each period now (for specs and the metric's readers). */
  get watching(): number {
    return this.watched.size;
  }

  /** The route's handler: checks the campaign exists, then streams its figures until the client leaves. */
  readonly handle = async (ctx: Context): Promise<void> => {
    const id = String(ctx.params.id);
    if (this.streams >= this.maxStreams) {
      this.refused.inc();
      throw new AppError(429, `the dashboard already streams live figures to ${this.maxStreams} pages; close one and retry`, { 'Retry-After': '5' });
    }
    // The slot is taken before the first read, so that streams opening at once cannot pass the bound.
    this.count(+1);
    let first: string;
    try {
      first = await this.figures(id);
    } catch (err) {
      this.count(-1);
      throw err;
    }
    const res = openEventStream(ctx);
    res.write(`retry: 2000\n\ndata: ${first}\n\n`);
    // Gone while its first figures were read: nothing to watch.
    if (res.destroyed) {
      this.count(-1);
      return;
    }
    this.attach(id, res, first);
    res.on('close', () => this.detach(id, res));
  };

  /** Ends every stream (shutdown): they never finish on their own. */
  close(): void {
    for (const w of this.watched.values()) for (const res of w.streams) res.destroy();
  }

  private count(change: number): void {
    this.streams += change;
    this.open.set(this.streams);
  }

  private attach(id: string, res: ServerResponse, first: string): void {
    let w = this.watched.get(id);
    if (w === undefined) {
      const timer = setInterval(() => void this.tick(id), this.periodMs);
      timer.unref();
      w = { streams: new Set(), timer, last: first, idle: 0, reading: false };
      this.watched.set(id, w);
    }
    w.streams.add(res);
  }

  private detach(id: string, res: ServerResponse): void {
    const w = this.watched.get(id);
    if (w === undefined || !w.streams.delete(res)) return;
    this.count(-1);
    if (w.streams.size > 0) return;
    clearInterval(w.timer);
    this.watched.delete(id);
  }

  private async tick(id: string): Promise<void> {
    const w = this.watched.get(id);
    // A read slower than the period is not stacked on: the next tick reads again.
    if (w === undefined || w.reading) return;
    w.reading = true;
    let frame: string | undefined;
    try {
      const now = await this.figures(id);
      if (now !== w.last) {
        w.last = now;
        frame = `data: ${now}\n\n`;
      }
    } catch {
      // Unavailable for a moment (a restarting campaign, Redis away): the page keeps what it shows.
    } finally {
      w.reading = false;
    }
    if (frame === undefined && ++w.idle < KEEPALIVE_PERIODS) return;
    w.idle = 0;
    for (const res of w.streams) {
      if (res.writableLength > MAX_BACKLOG) res.destroy();
      else res.write(frame ?? ': keepalive\n\n');
    }
  }

  /** What the page shows live: the counts and the trailing day's analytics, as one JSON line. */
  private async figures(id: string): Promise<string> {
    const [stats, day] = await Promise.all([this.counter.campaigns.stats(id), this.counter.analytics.report(id, '24h', false)]);
    return JSON.stringify({ campaign_id: id, ...countsJson(stats), day: figuresJson(day.campaign) });
  }
}
