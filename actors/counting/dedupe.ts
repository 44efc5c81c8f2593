import { hash128 } from './hash128.js';

/**
 * Exact-enough set of (user → last counted time) for one campaign, in 16 bytes a slot.
 *
 * A user id is reduced to a 128-bit MurmurHash3 digest of which 96 bits are stored (words 0, 1 and
 * 3), so two live users are confused only if those 96 bits agree. At n live keys the chance of any
 * false duplicate is below n² / 2^97: 6.3e-14 at 100 million keys.
 *
 * A small table is one shard; past SPLIT_AT entries it splits into 256 shards chosen by the top byte
 * of stored word 3, so that no rehash or sweep ever touches more than 1/256 of a large table. The
 * split waits for 16,384 entries because each shard's array carries its own allocation: a 10,000-key
 * table in 256 shards took ~500 KB of RSS, in one ~270 KB, and rehashing or sweeping one shard of
 * that size still costs well under a millisecond.
 *
 * Each shard is a robin-hood, linear-probing table in one Uint32Array, four words a slot:
 * fingerprint (3 words) and a stamp = countedAt − epoch + 1 (0 marks an empty slot). Shards grow by
 * 1.25× at 87.5 % load, so a live key costs 16 / load ≈ 18.3–22.9 bytes (robin-hood probing keeps
 * lookups short at that load: a miss stops as soon as it passes a richer slot). Expired entries stay in place
 * (a lookup treats them as absent) until `sweep` rebuilds their shard; no per-key timers.
 */
export class DedupeTable {
  static readonly SHARDS = 256;
  private static readonly MAX_LOAD = 0.875;
  private static readonly GROWTH = 1.25;
  private static readonly DOUBLING_BELOW = 512;
  private static readonly REBUILD_LOAD = 0.7;
  private static readonly MIN_CAPACITY = 8;
  /** Stamps are 32-bit: a shard is rebased before its stamps could overflow. */
  private static readonly MAX_STAMP = 0xffff_ffff;

  private static readonly SPLIT_AT = 16384;

  private shards: (Shard | undefined)[] = [undefined];
  /** 8 while the table is one shard (every index shifts to 0), 0 once split into 256. */
  private shardShift = 8;
  private readonly digest = new Uint32Array(4);
  private sweepCursor = 0;
  private entries = 0;
  /** What `bytes` answers, kept as shards come, grow and go (read after every message: no walk). */
  private held = 0;
  /** What the last admit changed, so that a crash mid-impression can undo it. */
  private lastShard: Shard | undefined;
  private lastSlot = -1;
  private lastStamp = 0;

  constructor(readonly ttlMs: number) {}

  /**
   * Counts `userId` at `at` unless a counted impression of it happened in the last TTL: true when
   * counted (and then the window restarts at `at`), false for a duplicate. Duplicates never extend it.
   */
  admit(userId: string, at: number): boolean {
    hash128(userId, this.digest);
    return this.admitDigest(this.digest, at);
  }

  /** `admit` for a user already reduced to its 128-bit digest (journal replay, batch paths). */
  admitDigest(d: Uint32Array, at: number): boolean {
    this.lastShard = undefined;
    const shardIndex = d[3] >>> 24 >>> this.shardShift;
    let shard = this.writable(shardIndex, at);
    if (shard === undefined) {
      shard = this.put(shardIndex, newShard(DedupeTable.MIN_CAPACITY, at - this.ttlMs));
    }
    const slot = find(shard, d[0], d[1], d[3]);
    if (slot >= 0) {
      const countedAt = shard.epoch + shard.slots[slot + 3] - 1;
      if (at - countedAt < this.ttlMs) return false;
      if (shard.frozen !== undefined) preserve(shard.frozen, slot);
      this.lastShard = shard;
      this.lastSlot = slot;
      this.lastStamp = shard.slots[slot + 3];
      shard.slots[slot + 3] = stampOf(shard, at);
      return true;
    }
    if (shard.size + 1 > shard.capacity * DedupeTable.MAX_LOAD) {
      // Small shards double (few rehashes while a campaign warms up); large ones grow by GROWTH so
      // that even right after growing a key costs at most 16 / (0.875 / 1.25) ≈ 22.9 bytes.
      const factor = shard.capacity < DedupeTable.DOUBLING_BELOW ? 2 : DedupeTable.GROWTH;
      shard = this.put(shardIndex, resize(shard, Math.ceil(shard.capacity * factor), shard.epoch));
    }
    this.lastSlot = insert(shard, d[0], d[1], d[3], stampOf(shard, at));
    this.entries++;
    this.lastShard = shard;
    if (this.shardShift !== 0 && this.entries > DedupeTable.SPLIT_AT) this.split();
    this.lastStamp = 1; // "counted at the epoch": expired for any later time, as if absent
    return true;
  }

  /** Reverts the last counting `admit` (the entry reads as expired again). */
  undoLastAdmit(): void {
    if (this.lastShard !== undefined && this.lastSlot >= 0) {
      if (this.lastShard.frozen !== undefined) preserve(this.lastShard.frozen, this.lastSlot);
      this.lastShard.slots[this.lastSlot + 3] = this.lastStamp;
    }
    this.lastShard = undefined;
    this.lastSlot = -1;
  }

  /**
   * Records that the user with digest `d` was counted at `at`, whatever the table says (journal
   * replay: the record is a fact, not a request). A later stamp already present is kept.
   */
  restoreDigest(d: Uint32Array, at: number): void {
    const index = d[3] >>> 24 >>> this.shardShift;
    const shard = this.writable(index, at);
    const slot = shard === undefined ? -1 : find(shard, d[0], d[1], d[3]);
    if (shard !== undefined && slot >= 0) {
      const stamp = stampOf(shard, at);
      if (stamp > shard.slots[slot + 3]) {
        if (shard.frozen !== undefined) preserve(shard.frozen, slot);
        shard.slots[slot + 3] = stamp;
      }
      return;
    }
    // Not present: admitting at `at` inserts it (an expired twin cannot exist, the slot was absent).
    this.admitDigest(d, at);
  }

  /**
   * The table's contents for a snapshot, without copying up front: each shard is frozen, and from
   * then on the first write to any 4 KiB page of a frozen shard first keeps that page's original
   * (copy-on-write by page, so the batch right after a capture copies a few pages, not the table).
   * An image shard's `slots` composes the array as captured when read; its `release` (or the
   * image's) ends the copying once the snapshot holds it.
   */
  capture(): DedupeImage & { release(): void } {
    const shards: DedupeImage['shards'] = [];
    const releases: (() => void)[] = [];
    this.shards.forEach((shard, index) => {
      if (shard === undefined) return;
      const frozen: Frozen = { slots: shard.slots, pages: new Map() };
      shard.frozen = frozen;
      const release = (): void => {
        if (shard.frozen === frozen) shard.frozen = undefined;
        frozen.pages.clear();
      };
      const entry = { index, epoch: shard.epoch, size: shard.size } as DedupeImage['shards'][number];
      Object.defineProperty(entry, 'slots', { enumerable: true, get: () => compose(frozen) });
      Object.defineProperty(entry, 'release', { value: release });
      shards.push(entry);
      releases.push(release);
    });
    const image = { ttlMs: this.ttlMs, shards } as DedupeImage & { release(): void };
    Object.defineProperty(image, 'release', { value: () => releases.forEach((r) => r()) });
    return image;
  }

  /** Turns the one shard into 256, each holding the keys whose stored word 3 starts with its index. */
  private split(): void {
    const old = this.shards[0] as Shard;
    this.unsplit(false);
    const counts = new Uint32Array(DedupeTable.SHARDS);
    const s = old.slots;
    for (let i = 0; i < s.length; i += 4) if (s[i + 3] !== 0) counts[s[i + 2] >>> 24]++;
    counts.forEach((n, index) => {
      if (n > 0) this.put(index, newShard(Math.max(DedupeTable.MIN_CAPACITY, Math.ceil(n / DedupeTable.REBUILD_LOAD)), old.epoch));
    });
    for (let i = 0; i < s.length; i += 4) {
      if (s[i + 3] !== 0) insert(this.shards[s[i + 2] >>> 24] as Shard, s[i], s[i + 1], s[i + 2], s[i + 3]);
    }
  }

  /** Switches to 256 (initially empty) shards. */
  private unsplit(_keep: false): void {
    this.shards = new Array(DedupeTable.SHARDS);
    this.held = 0;
    this.shardShift = 0;
    this.sweepCursor = 0;
  }

  /** Rebuilds a table from `capture()` output (which it takes ownership of). */
  static restore(image: DedupeImage, ttlMs: number): DedupeTable {
    const table = new DedupeTable(ttlMs);
    // Only a split table has shards past index 0; a lone shard 0 works either way.
    if (image.shards.some((s) => s.index > 0)) table.unsplit(false);
    for (const s of image.shards) {
      table.put(s.index, { slots: s.slots, capacity: s.slots.length / 4, size: s.size, epoch: s.epoch, frozen: undefined });
      table.entries += s.size;
    }
    return table;
  }

  /** Whether `userId` has a live (unexpired) entry at `at`. Read-only. */
  has(userId: string, at: number): boolean {
    hash128(userId, this.digest);
    return this.hasDigest(this.digest, at);
  }

  /** Whether the table holds an entry for digest `d`, live or expired (re-counting it adds no slot). Read-only. */
  holdsDigest(d: Uint32Array): boolean {
    const shard = this.shards[d[3] >>> 24 >>> this.shardShift];
    return shard !== undefined && find(shard, d[0], d[1], d[3]) >= 0;
  }

  hasDigest(d: Uint32Array, at: number): boolean {
    const shard = this.shards[d[3] >>> 24 >>> this.shardShift];
    if (shard === undefined) return false;
    const slot = find(shard, d[0], d[1], d[3]);
    return slot >= 0 && at - (shard.epoch + shard.slots[slot + 3] - 1) < this.ttlMs;
  }

  /**
   * Reclaims expired entries, visiting shards round-robin until about `budget` slots were scanned.
   * A shard with expired entries is rebuilt without them (or freed when none is left), so memory
   * follows the keys of the last TTL. Returns the number of slots scanned.
   */
  sweep(at: number, budget: number): number {
    let scanned = 0;
    const count = this.shards.length;
    for (let visited = 0; visited < count && scanned < budget; visited++) {
      const index = this.sweepCursor % count;
      this.sweepCursor = (index + 1) % count;
      const shard = this.shards[index];
      if (shard === undefined) continue;
      scanned += shard.capacity;
      if (countExpired(shard, at, this.ttlMs) > 0) this.rebuild(index, at);
    }
    return scanned;
  }

  /** Entries held, including expired ones not yet swept. */
  get size(): number {
    return this.entries;
  }

  /** Bytes held by the slot arrays, and each shard's object and typed-array header. */
  get bytes(): number {
    return this.held;
  }

  /**
   * Shard `index`, ready to take a stamp for `at`: rebased first when that stamp would not fit 32
   * bits (a stamp of 2^32 would wrap to 0, which reads as an empty slot).
   */
  private writable(index: number, at: number): Shard | undefined {
    const shard = this.shards[index];
    if (shard !== undefined && at - shard.epoch + 1 > DedupeTable.MAX_STAMP) return this.rebuild(index, at);
    return shard;
  }

  /** Sets shard `index`, keeping `held` in step. */
  private put<S extends Shard | undefined>(index: number, shard: S): S {
    const old = this.shards[index];
    if (old !== undefined) this.held -= old.slots.byteLength + SHARD_BYTES;
    if (shard !== undefined) this.held += shard.slots.byteLength + SHARD_BYTES;
    this.shards[index] = shard;
    return shard;
  }

  /** Drops expired entries from one shard and rebases its epoch so stamps stay in 32 bits. */
  private rebuild(index: number, at: number): Shard | undefined {
    const old = this.shards[index] as Shard;
    const ttl = this.ttlMs;
    const live = old.size - countExpired(old, at, ttl);
    this.entries -= old.size - live;
    if (live === 0) {
      this.put(index, undefined);
      return undefined;
    }
    const capacity = Math.max(DedupeTable.MIN_CAPACITY, Math.ceil(live / DedupeTable.REBUILD_LOAD));
    const next = newShard(capacity, at - ttl);
    const s = old.slots;
    for (let i = 0; i < s.length; i += 4) {
      if (s[i + 3] === 0) continue;
      const countedAt = old.epoch + s[i + 3] - 1;
      if (at - countedAt >= ttl) continue;
      insert(next, s[i], s[i + 1], s[i + 2], stampOf(next, countedAt));
    }
    return this.put(index, next);
  }
}

/**
 * Heap bytes of a shard beyond its slots: the shard object, the Uint32Array and its ArrayBuffer
 * (measured: a split table of 10,000 keys held ~340 B per shard more than its slot arrays).
 */
const SHARD_BYTES = 340;

/** A table's contents as plain values, for snapshots. */
export interface DedupeImage {
  readonly ttlMs: number;
  readonly shards: { readonly index: number; readonly epoch: number; readonly size: number; readonly slots: Uint32Array }[];
}

interface Shard {
  slots: Uint32Array;
  capacity: number;
  size: number;
  /** Stamps are stored relative to this time so that they fit 32 bits. */
  epoch: number;
  /** Set while a snapshot image holds this shard's array: keep a page's original before writing it. */
  frozen: Frozen | undefined;
}

/** A shard's array as a snapshot captured it: the array, and the original of every page written since. */
interface Frozen {
  readonly slots: Uint32Array;
  readonly pages: Map<number, Uint32Array>;
}

/** 1,024 words = 4 KiB; a slot (4 words) never straddles two pages. */
const PAGE_SHIFT = 10;

function preserve(frozen: Frozen, word: number): void {
  const page = word >>> PAGE_SHIFT;
  if (!frozen.pages.has(page)) frozen.pages.set(page, frozen.slots.slice(page << PAGE_SHIFT, (page + 1) << PAGE_SHIFT));
}

/** The frozen array as it was at capture. */
function compose(frozen: Frozen): Uint32Array {
  const out = frozen.slots.slice();
  for (const [page, original] of frozen.pages) out.set(original, page << PAGE_SHIFT);
  return out;
}

function newShard(capacity: number, epoch: number): Shard {
  return { slots: new Uint32Array(capacity * 4), capacity, size: 0, epoch, frozen: undefined };
}

function stampOf(shard: Shard, at: number): number {
  // A stamp before the epoch (the clock stepped back by more than a TTL) is clamped to the oldest.
  return Math.max(1, at - shard.epoch + 1);
}

/** Home slot (in words) of a fingerprint: its first word scaled onto the capacity. */
function home(a: number, capacity: number): number {
  return Math.floor(((a >>> 0) * capacity) / 4294967296) * 4;
}

function find(shard: Shard, a: number, b: number, c: number): number {
  const s = shard.slots;
  const words = s.length;
  const capacity = shard.capacity;
  a >>>= 0;
  b >>>= 0;
  c >>>= 0;
  let i = home(a, capacity);
  for (let dist = 0; ; dist += 4) {
    if (s[i + 3] === 0) return -1;
    if (s[i] === a && s[i + 1] === b && s[i + 2] === c) return i;
    // Robin hood invariant: once our distance exceeds the occupant's, the key is not here.
    let theirs = i - home(s[i], capacity);
    if (theirs < 0) theirs += words;
    if (theirs < dist) return -1;
    i += 4;
    if (i === words) i = 0;
  }
}

/** Inserts a key known to be absent; returns the slot (in words) where that key landed. */
function insert(shard: Shard, a: number, b: number, c: number, stamp: number): number {
  const s = shard.slots;
  const words = s.length;
  const capacity = shard.capacity;
  let i = home(a, capacity);
  let dist = 0;
  let landed = -1;
  const frozen = shard.frozen;
  for (;;) {
    if (s[i + 3] === 0) {
      if (frozen !== undefined) preserve(frozen, i);
      s[i] = a; s[i + 1] = b; s[i + 2] = c; s[i + 3] = stamp;
      shard.size++;
      return landed < 0 ? i : landed;
    }
    let theirs = i - home(s[i], capacity);
    if (theirs < 0) theirs += words;
    if (theirs < dist) {
      if (frozen !== undefined) preserve(frozen, i);
      const ta = s[i], tb = s[i + 1], tc = s[i + 2], ts = s[i + 3];
      s[i] = a; s[i + 1] = b; s[i + 2] = c; s[i + 3] = stamp;
      if (landed < 0) landed = i;
      a = ta; b = tb; c = tc; stamp = ts; dist = theirs;
    }
    i += 4;
    if (i === words) i = 0;
    dist += 4;
  }
}

function resize(shard: Shard, capacity: number, epoch: number): Shard {
  const next = newShard(capacity, epoch);
  const s = shard.slots;
  const words = s.length;
  // Start after an empty slot: entries then come in home order, so each insert lands at the end of
  // its run without displacing anything.
  let start = 0;
  while (s[start + 3] !== 0) start += 4;
  for (let k = 0, i = start; k < words; k += 4) {
    i += 4;
    if (i === words) i = 0;
    if (s[i + 3] !== 0) insert(next, s[i], s[i + 1], s[i + 2], s[i + 3]);
  }
  return next;
}

function countExpired(shard: Shard, at: number, ttl: number): number {
  const s = shard.slots;
  // countedAt = epoch + stamp − 1 is expired when at − countedAt ≥ ttl, i.e. stamp ≤ at − ttl − epoch + 1.
  const limit = at - ttl - shard.epoch + 1;
  let expired = 0;
  for (let i = 3; i < s.length; i += 4) {
    const stamp = s[i];
    if (stamp !== 0 && stamp <= limit) expired++;
  }
  return expired;
}

/** How long an impression or click id is remembered for idempotent retries (its own dedupe tables use this TTL). */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
