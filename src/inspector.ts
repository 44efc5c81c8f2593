import { createHmac, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { InspectionEvent } from 'xstate';
import { systemClock, type Clock } from '../actors/counting/clock.js';

/** The part of an xstate actor system the inspector needs (`registry.system`). */
export interface InspectableSystem {
  inspect(observer: (event: InspectionEvent) => void): { unsubscribe(): void };
}

export interface InspectorOptions {
  readonly system: InspectableSystem;
  readonly clock?: Clock;
  /** Bytes one watcher may have waiting (queued plus unsent) before it is dropped as too slow. */
  readonly maxBufferBytes?: number;
  /** How often an idle stream gets a comment line, so proxies keep it open. */
  readonly heartbeatMs?: number;
}

/**
 * What one watcher wants to see. Each pattern is an exact name, a prefix ending in `*`, or either
 * preceded by `!` to exclude. `actors` match actor ids (`registry`, `campaign:<id>`); `types` match
 * the inspection kind (`event`, `snapshot`, `actor`, with or without `@xstate.`) or the carried
 * event's type (`impressions`, `stats`, `tick`, `xstate.error.*`).
 */
export interface WatchOptions {
  readonly actors?: readonly string[];
  readonly types?: readonly string[];
  /** Replace user ids with a stable pseudonym (the default). */
  readonly redact?: boolean;
}

/** One inspection event as the stream shows it. */
export interface InspectionRecord {
  readonly seq: number;
  readonly time: number;
  readonly kind: string;
  readonly actor: string;
  readonly source?: string;
  readonly type?: string;
  readonly event?: unknown;
  readonly status?: string;
}

const DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024;
const DEFAULT_HEARTBEAT_MS = 15_000;
/** Bounds on what one event may put on the wire: a batch of 10k items shows its first few. */
const MAX_ITEMS = 20;
const MAX_KEYS = 32;
const MAX_DEPTH = 5;
const MAX_STRING = 256;
const USER_KEYS = new Set(['userId', 'user_id']);
const PSEUDONYM_CACHE = 4096;

/**
 * Streams xstate inspection events to watchers as Server-Sent Events. The system's inspection hook
 * costs 2–6× per event even as a no-op, so it is attached only while at least one watcher is
 * connected and detached when the last one leaves. Reply callbacks are never serialized; user ids
 * are pseudonymised unless a watcher asks otherwise; a watcher that falls `maxBufferBytes` behind
 * is dropped rather than buffered without limit.
 */
export class Inspector {
  private readonly system: InspectableSystem;
  private readonly clock: Clock;
  private readonly maxBufferBytes: number;
  private readonly heartbeatMs: number;
  private readonly watchers = new Set<Watcher>();
  private readonly pseudonymKey = randomBytes(32);
  /** Recent pseudonyms: one impression shows its user in several events, and an HMAC costs µs. */
  private readonly pseudonyms = new Map<string, string>();
  private subscription: { unsubscribe(): void } | undefined;
  private seq = 0;

  constructor(options: InspectorOptions) {
    this.system = options.system;
    this.clock = options.clock ?? systemClock;
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  /** True while the inspection hook is attached to the actor system. */
  get attached(): boolean {
    return this.subscription !== undefined;
  }

  get watching(): number {
    return this.watchers.size;
  }

  /** Adds a watcher; its `stream` carries SSE frames until it is closed, dropped, or the inspector closes. */
  watch(options: WatchOptions = {}): Watcher {
    const watcher = new Watcher(options, this.maxBufferBytes, this.heartbeatMs, (w) => this.remove(w));
    this.watchers.add(watcher);
    this.subscription ??= this.system.inspect(this.observe);
    return watcher;
  }

  /** Closes every stream (on shutdown) and detaches. */
  close(): void {
    for (const w of [...this.watchers]) w.close();
  }

  private remove(watcher: Watcher): void {
    if (!this.watchers.delete(watcher) || this.watchers.size > 0) return;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.pseudonyms.clear();
  }

  /** Runs inside actor processing: it must be cheap when nobody matches and must never throw. */
  private readonly observe = (e: InspectionEvent): void => {
    try {
      const actor = actorId(e.actorRef);
      const kind = e.type.slice(KIND_PREFIX.length);
      const type = eventType(e);
      let plain: string | undefined;
      let redacted: string | undefined;
      let seq = 0;
      for (const w of this.watchers) {
        if (!w.matches(actor, kind, type)) continue;
        if (seq === 0) seq = ++this.seq;
        if (w.redact) w.push((redacted ??= frame(this.record(e, seq, kind, actor, type, true))));
        else w.push((plain ??= frame(this.record(e, seq, kind, actor, type, false))));
      }
    } catch {
      // A broken serializer must not crash the actor that happened to be observed.
    }
  };

  private record(e: InspectionEvent, seq: number, kind: string, actor: string, type: string | undefined, redact: boolean): InspectionRecord {
    const pseudonym = redact ? (id: string) => this.pseudonym(id) : undefined;
    const record: { -readonly [K in keyof InspectionRecord]: InspectionRecord[K] } = { seq, time: this.clock.now(), kind, actor };
    if (type !== undefined) record.type = type;
    switch (e.type) {
      case '@xstate.event':
        if (e.sourceRef !== undefined) record.source = actorId(e.sourceRef);
        record.event = sanitize(e.event, pseudonym, 0);
        break;
      case '@xstate.snapshot':
      case '@xstate.transition':
      case '@xstate.microstep':
        // The event as processed (batch outcomes filled in) and the status; never the context,
        // which holds a campaign's whole dedupe table.
        record.event = sanitize(e.event, pseudonym, 0);
        record.status = e.snapshot.status;
        break;
      case '@xstate.action':
        record.event = sanitize(e.action, pseudonym, 0);
        break;
    }
    return record;
  }

  /** A stable stand-in for a user id: the same user reads the same within this process, and cannot be reversed. */
  private pseudonym(id: string): string {
    let alias = this.pseudonyms.get(id);
    if (alias === undefined) {
      alias = 'user:' + createHmac('sha256', this.pseudonymKey).update(id).digest('hex').slice(0, 12);
      if (this.pseudonyms.size >= PSEUDONYM_CACHE) this.pseudonyms.clear();
      this.pseudonyms.set(id, alias);
    }
    return alias;
  }
}

/** One connected watcher: its filters, its bounded queue, and the stream the HTTP layer sends. */
export class Watcher {
  readonly stream = new PassThrough();
  readonly redact: boolean;
  private readonly actors: Matcher;
  private readonly types: Matcher;
  private queue: string[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    options: WatchOptions,
    private readonly maxBufferBytes: number,
    heartbeatMs: number,
    private readonly onClose: (w: Watcher) => void,
  ) {
    this.redact = options.redact ?? true;
    this.actors = matcher(options.actors);
    this.types = matcher(options.types);
    this.heartbeat = setInterval(() => this.push(': ping\n\n'), heartbeatMs);
    this.heartbeat.unref();
    // However the stream ends (client gone, dropped, shut down), the watcher leaves.
    this.stream.on('close', () => this.detach());
    this.stream.write(`retry: 2000\n: watching${this.redact ? ' (user ids redacted)' : ''}\n\n`);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  matches(actor: string, kind: string, type: string | undefined): boolean {
    return this.actors([actor]) && this.types(type === undefined ? [kind] : [kind, type]);
  }

  /** Queues one frame; writes are coalesced per turn of the event loop. */
  push(text: string): void {
    if (this.closed) return;
    this.queue.push(text);
    this.queuedBytes += text.length;
    if (this.queuedBytes + this.stream.writableLength > this.maxBufferBytes) {
      this.close();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Stops the stream at once: the client left, fell too far behind, or the service is shutting down. */
  close(): void {
    if (this.closed) return;
    this.queue = [];
    this.queuedBytes = 0;
    this.detach();
    this.stream.destroy();
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.closed || this.queue.length === 0) return;
    const chunk = this.queue.length === 1 ? this.queue[0] : this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    this.stream.write(chunk);
  };

  private detach(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.onClose(this);
  }
}

const KIND_PREFIX = '@xstate.';

type Matcher = (names: readonly string[]) => boolean;

/** Include/exclude patterns → a test over the names describing one event. */
function matcher(patterns: readonly string[] = []): Matcher {
  const include: string[] = [];
  const exclude: string[] = [];
  for (const p of patterns) {
    const trimmed = p.trim();
    if (trimmed === '' || trimmed === '!') continue;
    const name = trimmed.startsWith('!') ? trimmed.slice(1) : trimmed;
    (trimmed.startsWith('!') ? exclude : include).push(name.startsWith(KIND_PREFIX) ? name.slice(KIND_PREFIX.length) : name);
  }
  const hit = (pattern: string, name: string): boolean =>
    pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
  return (names) =>
    (include.length === 0 || include.some((p) => names.some((n) => hit(p, n)))) && !exclude.some((p) => names.some((n) => hit(p, n)));
}

function actorId(ref: unknown): string {
  const id = (ref as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : 'unknown';
}

function eventType(e: InspectionEvent): string | undefined {
  switch (e.type) {
    case '@xstate.event':
    case '@xstate.snapshot':
    case '@xstate.transition':
    case '@xstate.microstep':
      return typeof e.event?.type === 'string' ? e.event.type : undefined;
    case '@xstate.action':
      return e.action.type;
    default:
      return undefined;
  }
}

function frame(record: InspectionRecord): string {
  // JSON never contains a raw newline, so one `data:` line carries the whole record.
  return `id: ${record.seq}\ndata: ${JSON.stringify(record)}\n\n`;
}

/**
 * A bounded, plain copy of an event for the wire: functions (reply callbacks) are left out, class
 * instances and typed arrays become labels, long arrays and strings are cut, and user ids go
 * through `pseudonym` when given.
 */
export function sanitize(value: unknown, pseudonym: ((id: string) => string) | undefined, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return String(value);
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    const n = Math.min(value.length, MAX_ITEMS);
    for (let i = 0; i < n; i++) out.push(sanitize(value[i], pseudonym, depth + 1) ?? null);
    if (value.length > MAX_ITEMS) out.push(`…${value.length - MAX_ITEMS} more`);
    return out;
  }
  if (ArrayBuffer.isView(value)) return `[${value.constructor.name}]`;
  if (value instanceof Error) return { name: value.name, message: sanitize(value.message, undefined, depth + 1) };
  if (value instanceof Map || value instanceof Set) return `[${value.constructor.name}(${value.size})]`;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    return `[${typeof name === 'string' && name !== '' ? name : 'object'}]`;
  }
  // A plain object (a null-prototype one would be in dictionary mode: several times slower to fill
  // and to stringify); a "__proto__" key is defined as data, never assigned.
  const out: Record<string, unknown> = {};
  let keys = 0;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'function') continue;
    if (++keys > MAX_KEYS) {
      out['…'] = 'more keys';
      break;
    }
    const copy = pseudonym !== undefined && USER_KEYS.has(key) && typeof v === 'string' ? pseudonym(v) : sanitize(v, pseudonym, depth + 1);
    if (key === '__proto__') Object.defineProperty(out, key, { value: copy, enumerable: true, writable: true, configurable: true });
    else out[key] = copy;
  }
  return out;
}
