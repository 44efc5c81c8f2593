import { randomUUID } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { UnavailableError } from '../errors.js';
import { withDeadline } from './deadline.js';
import { SLOTS, slotOf, slotTags } from './slots.js';

/**
 * Noticing a Redis that lost its data. A Redis restarted without persistence (or a cluster master
 * restarted empty) answers as if every campaign had never existed: without this, the service would
 * turn ready again, answer 404 for campaigns that exist, and count into the empty store.
 *
 * The store's *epoch* is a random id written once, at first use, into an epoch key: one key on a
 * single Redis (`ic:epoch`), and on a cluster one key per hash slot (`ic:{<tag>}:e`, the tag chosen
 * to hash to that slot), because a restarted master loses exactly its slots' keys and because a
 * campaign's scripts can only read keys of the campaign's own slot. Every script first checks that
 * its slot's epoch key exists, so no count ever goes into a slot that lost its data, even before
 * anything else noticed. The whole set is read at start, on every reconnect and whenever the
 * breaker closes; one key per master is sampled every check interval, the whole set when one looks
 * wrong.
 *
 * What is detected: a single Redis or any master restarted empty (all or some slots lost), while
 * this node runs or when it starts (some slots without their key); a store emptied and set up again
 * by another node meanwhile (a different epoch). What is not: a store emptied while no node ran,
 * when all slots are empty at start (indistinguishable from a first use); a restart that reloaded
 * an old RDB snapshot or a truncated AOF (the epoch survives, the counts since the snapshot do not);
 * keys deleted one by one (FLUSHALL is seen, a DEL of campaign keys is not).
 */

/** What the store's epoch looks like to this node. `unknown` until the first full check. */
export type EpochState = 'unknown' | 'ok' | 'lost';

export type EpochEvent =
  | { readonly type: 'initialised'; readonly epoch: string }
  | { readonly type: 'lost'; readonly reason: string }
  | { readonly type: 'accepted'; readonly epoch: string; readonly repairedSlots: number; readonly automatically: boolean }
  /** Lost, then found whole again with this node's epoch: another node accepted the reset. */
  | { readonly type: 'restored'; readonly epoch: string };

export interface AcceptReport {
  /** False when there was nothing to accept (no loss detected). */
  readonly accepted: boolean;
  readonly epoch: string | undefined;
  /** Epoch keys written (slots, or 1 on a single Redis). */
  readonly repairedSlots: number;
}

export interface StoreEpochOptions {
  /** How long one check may take. */
  readonly deadlineMs: number;
  /** REDIS_ACCEPT_RESET=on: accept a detected loss at once (still reported). */
  readonly acceptReset: boolean;
  /** Told of every transition, after it happened. */
  readonly onEvent: (event: EpochEvent) => void;
}

/** A campaign call refused because the store lost its data and nobody has accepted that yet: a 503. */
export class StoreResetError extends UnavailableError {}

/** What a script answers when its slot's epoch key is missing. */
const EPOCH_ERROR = 'IC_EPOCH_MISSING';

/** Prepended to every campaign script, whose last KEY is the epoch key of the campaign's slot. */
export const EPOCH_GUARD = `if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return redis.error_reply('${EPOCH_ERROR} the epoch key of this hash slot is missing: the shard lost its data') end\n`;

export function isEpochMissing(err: unknown): boolean {
  return err instanceof Error && err.message.includes(EPOCH_ERROR);
}

/** Checks at start that find only some slots set are repeated this often: another node may be setting the epoch up. */
const START_RETRIES = 3;
const START_RETRY_MS = 200;

export class StoreEpoch {
  private current: EpochState = 'unknown';
  private epoch: string | undefined;
  private why = '';
  private checking: Promise<void> | undefined;
  private readonly keys: readonly string[];

  constructor(
    private readonly client: Redis | Cluster,
    private readonly options: StoreEpochOptions,
  ) {
    this.keys = client instanceof Cluster ? slotTags().map((tag) => `ic:{${tag}}:e`) : ['ic:epoch'];
  }

  get state(): EpochState {
    return this.current;
  }

  /** Why the store counts as lost (empty unless it does). */
  get reason(): string {
    return this.why;
  }

  /** The epoch key guarding the campaign whose hash tag is `tag`. */
  keyFor(tag: string): string {
    return this.keys.length === 1 ? this.keys[0] : this.keys[slotOf(tag)];
  }

  /** A script found its slot's epoch key missing. */
  scriptFoundLoss(): void {
    this.lose('a campaign script found the epoch key of its hash slot missing: that Redis (or cluster master) restarted without its data');
    void this.check().catch(() => undefined); // for the extent, in the log
  }

  /** Reads every epoch key and decides: first use, whole, or lost. Concurrent calls share one check. */
  check(): Promise<void> {
    this.checking ??= this.fullCheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** The periodic check: one key per master (the only key on a single Redis), all of them if one looks wrong. */
  async sample(): Promise<void> {
    if (this.current !== 'ok' || this.keys.length === 1) return this.check();
    const sampled = this.sampleKeys();
    const values = await withDeadline(Promise.all(sampled.map((k) => this.client.get(k))), this.options.deadlineMs);
    if (values.some((v) => v !== this.epoch)) await this.check();
  }

  /**
   * Accepts a detected loss: from now on the store, as it is, is the truth. Every slot gets the
   * epoch (the store's own if all its keys agree, else this node's), so other nodes that saw the same
   * loss find the store whole with their epoch at their next check and resume too.
   */
  async accept(automatically = false): Promise<AcceptReport> {
    if (this.current !== 'lost') return { accepted: false, epoch: this.epoch, repairedSlots: 0 };
    const values = await this.read();
    const present = new Set(values.filter((v): v is string => v !== null));
    const target = present.size === 1 ? [...present][0] : (this.epoch ?? randomUUID());
    const stale = this.keys.filter((_, i) => values[i] !== target);
    await withDeadline(Promise.all(stale.map((k) => this.client.set(k, target))), this.options.deadlineMs);
    this.epoch = target;
    this.current = 'ok';
    this.why = '';
    this.options.onEvent({ type: 'accepted', epoch: target, repairedSlots: stale.length, automatically });
    return { accepted: true, epoch: target, repairedSlots: stale.length };
  }

  private async fullCheck(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const values = await this.read();
      const missing: number[] = [];
      const distinct = new Set<string>();
      values.forEach((v, slot) => (v === null ? missing.push(slot) : distinct.add(v)));
      if (distinct.size === 0 && this.epoch === undefined) {
        await this.initialise();
        continue;
      }
      if (missing.length === 0 && distinct.size === 1) {
        const [value] = distinct;
        if (this.epoch === undefined || (value === this.epoch && this.current !== 'ok')) {
          const restored = this.epoch !== undefined;
          this.epoch = value;
          this.current = 'ok';
          this.why = '';
          if (restored) this.options.onEvent({ type: 'restored', epoch: value });
          return;
        }
        if (value === this.epoch) return;
        return this.lose(`its epoch changed from ${this.epoch} to ${value}: it was emptied and then set up afresh by a node that started meanwhile`);
      }
      if (this.epoch === undefined && attempt < START_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS));
        continue;
      }
      if (missing.length > 0) return this.lose(this.describeMissing(missing));
      return this.lose(`its hash slots carry ${distinct.size} different epochs: parts of it were emptied and set up afresh`);
    }
  }

  /** First use: slot 0's key decides between nodes starting at once, and every other key copies it. */
  private async initialise(): Promise<void> {
    const first = this.keys[0];
    const deadline = this.options.deadlineMs;
    await withDeadline(this.client.set(first, randomUUID(), 'NX'), deadline);
    const chosen = await withDeadline(this.client.get(first), deadline);
    if (chosen === null) throw new Error(`the epoch key ${first} vanished while being set up`);
    await withDeadline(Promise.all(this.keys.map((k) => this.client.set(k, chosen, 'NX'))), deadline);
    this.options.onEvent({ type: 'initialised', epoch: chosen });
  }

  private lose(reason: string): void {
    const was = this.current;
    this.current = 'lost';
    this.why = reason;
    if (was !== 'lost') {
      this.options.onEvent({ type: 'lost', reason });
      if (this.options.acceptReset) void this.accept(true).catch(() => undefined);
    }
  }

  private read(): Promise<(string | null)[]> {
    return withDeadline(Promise.all(this.keys.map((k) => this.client.get(k))), this.options.deadlineMs);
  }

  /** The first slot of each master, as the client last learnt the slot map. */
  private sampleKeys(): string[] {
    const slots = (this.client as Cluster).slots as readonly (readonly string[] | undefined)[];
    const seen = new Set<string>();
    const keys: string[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const master = slots[slot]?.[0];
      if (master === undefined || seen.has(master)) continue;
      seen.add(master);
      keys.push(this.keys[slot]);
    }
    return keys.length > 0 ? keys : [this.keys[0]];
  }

  private describeMissing(missing: readonly number[]): string {
    if (this.keys.length === 1) return 'its epoch key is gone: Redis restarted without its data (or was flushed)';
    const slots = (this.client as Cluster).slots as readonly (readonly string[] | undefined)[];
    const masters = [...new Set(missing.map((s) => slots[s]?.[0] ?? 'unknown'))].sort();
    return `the epoch keys of ${missing.length} of ${SLOTS} hash slots are gone (served by ${masters.join(', ')}): a cluster master restarted without its data`;
  }
}
