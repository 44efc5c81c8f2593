import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys. A key is `ick_<id>_<secret>`: the id (64 random bits, hex) names the key in logs, metrics
 * and `DELETE /keys/{id}`; the secret is 256 random bits. Only the SHA-256 digest of the whole key is
 * kept (in memory, on disk, in Redis), and a presented key is compared by digest in constant time.
 * `ADMIN_KEY`, the operator's root key, is any string of at least 32 characters and has the id `root`.
 */

export type Scope = 'admin' | 'write' | 'read';
export const SCOPES: readonly Scope[] = ['admin', 'write', 'read'];

/** A key as it is stored: never its secret. */
export interface StoredKey {
  readonly id: string;
  readonly name: string | null;
  readonly scopes: readonly Scope[];
  /** Campaigns a read or write key is limited to; null: every campaign. */
  readonly campaigns: readonly string[] | null;
  readonly createdAt: number;
  /** Hex SHA-256 of the whole key. */
  readonly digest: string;
  /** Set once revoked: kept as a tombstone so that a replayed creation can never bring the key back. */
  readonly revokedAt?: number;
  /** From this instant on the key is refused (a share link's end); absent: never. */
  readonly expiresAt?: number;
}

/** Who a request acts as, once its key is known. */
export interface Principal {
  /** The key id (`root` for ADMIN_KEY, `loopback` for the protected default, `anonymous` with AUTH=off). */
  readonly id: string;
  readonly admin: boolean;
  readonly write: boolean;
  readonly read: boolean;
  /** Absent: every campaign. */
  readonly campaigns?: ReadonlySet<string>;
  /** Refused from this instant on; absent: never. */
  readonly expiresAt?: number;
}

export const ROOT_ID = 'root';
/** Most recently authenticated keys kept (see `KeyRing.recent`). */
const RECENT_KEYS = 4096;
const KEY = /^ick_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Where key changes are made durable (a file under DATA_DIR, Redis) before they are acknowledged. */
export interface KeyStore {
  /** Every key ever created, revoked ones included. */
  load(): Promise<StoredKey[]>;
  /** Makes one key's new state durable (and, with Redis, visible to every node). */
  save(key: StoredKey, all: readonly StoredKey[]): Promise<void>;
  /** Calls `changed` with every key whenever another node changed them (Redis); absent: never. */
  watch?(changed: (keys: StoredKey[]) => void): void;
  close?(): Promise<void>;
}

/** Keys kept in memory only (DURABILITY=off, and specs). */
export class MemoryKeyStore implements KeyStore {
  private keys: StoredKey[] = [];
  load(): Promise<StoredKey[]> {
    return Promise.resolve([...this.keys]);
  }
  save(_key: StoredKey, all: readonly StoredKey[]): Promise<void> {
    this.keys = [...all];
    return Promise.resolve();
  }
}

export interface NewKey {
  readonly scopes: readonly Scope[];
  readonly campaigns?: readonly string[] | null;
  readonly name?: string | null;
  readonly expiresAt?: number;
}

export function digestOf(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The key ring: ADMIN_KEY plus the keys created through the API, looked up by id. */
export class KeyRing {
  private readonly byId = new Map<string, { stored: StoredKey; digest: Buffer; principal: Principal }>();
  private readonly root: Buffer | undefined;
  /**
   * Keys that authenticated recently, so that a busy key is hashed once rather than per request
   * (SHA-256 is most of the guard's cost, ~1.3 µs here). Only keys that matched their digest get in,
   * so a flood of wrong keys cannot fill it; any change to the ring empties it, so a revocation
   * applies at once. Held in memory only: never written anywhere.
   */
  private readonly recent = new Map<string, Principal>();
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: KeyStore,
    adminKey = '',
    private readonly now: () => number = Date.now,
  ) {
    this.root = adminKey === '' ? undefined : digestOf(adminKey);
  }

  /** Loads the stored keys (and, with Redis, follows other nodes' changes). */
  async open(): Promise<this> {
    this.replace(await this.store.load());
    this.store.watch?.((keys) => this.replace(keys));
    return this;
  }

  /** Whether ADMIN_KEY is set. */
  get hasRoot(): boolean {
    return this.root !== undefined;
  }

  /** Whether any key at all could be presented (ADMIN_KEY or a live created key). */
  get configured(): boolean {
    if (this.root !== undefined) return true;
    for (const k of this.byId.values()) if (k.stored.revokedAt === undefined) return true;
    return false;
  }

  /**
   * The principal a presented key stands for; 'revoked', 'expired' or 'unknown' otherwise. Unknown
   * ids are refused without hashing; known ones compare digests in constant time. Expiry is checked
   * on every use, the recently authenticated ones included, so a key stops at its instant exactly.
   */
  authenticate(key: string): Principal | 'revoked' | 'expired' | 'unknown' {
    let found: Principal | 'revoked' | 'unknown' | undefined = this.recent.get(key);
    if (found === undefined) {
      found = this.verify(key);
      if (typeof found !== 'string') {
        if (this.recent.size >= RECENT_KEYS) this.recent.clear();
        this.recent.set(key, found);
      }
    }
    if (typeof found !== 'string' && found.expiresAt !== undefined && this.now() >= found.expiresAt) return 'expired';
    return found;
  }

  private verify(key: string): Principal | 'revoked' | 'unknown' {
    const m = KEY.exec(key);
    if (m === null) {
      if (this.root !== undefined && key.length >= 32 && timingSafeEqual(digestOf(key), this.root)) return ROOT;
      return 'unknown';
    }
    const entry = this.byId.get(m[1]);
    if (entry === undefined || !timingSafeEqual(digestOf(key), entry.digest)) return 'unknown';
    return entry.stored.revokedAt === undefined ? entry.principal : 'revoked';
  }

  /** Creates a key; resolves once it is durable, with the only copy of its secret. */
  async create(spec: NewKey, now: number): Promise<{ key: string; stored: StoredKey }> {
    let id: string;
    do id = randomBytes(8).toString('hex');
    while (this.byId.has(id));
    const key = `ick_${id}_${randomBytes(32).toString('base64url')}`;
    const stored: StoredKey = {
      id,
      name: spec.name ?? null,
      scopes: SCOPES.filter((s) => spec.scopes.includes(s)),
      campaigns: spec.campaigns == null ? null : [...new Set(spec.campaigns)],
      createdAt: now,
      digest: digestOf(key).toString('hex'),
      ...(spec.expiresAt !== undefined && { expiresAt: spec.expiresAt }),
    };
    await this.change(stored);
    return { key, stored };
  }

  /** Revokes a key at once; false when there is no such live key. */
  async revoke(id: string, now: number): Promise<boolean> {
    const entry = this.byId.get(id);
    if (entry === undefined || entry.stored.revokedAt !== undefined) return false;
    await this.change({ ...entry.stored, revokedAt: now });
    return true;
  }

  /** Live keys, oldest first. */
  list(): StoredKey[] {
    return [...this.byId.values()].map((e) => e.stored).filter((k) => k.revokedAt === undefined);
  }

  async close(): Promise<void> {
    await this.writing;
    await this.store.close?.();
  }

  /** Changes are written one at a time, each with the whole ring, and applied once durable. */
  private change(key: StoredKey): Promise<void> {
    const next = this.writing.then(async () => {
      const all = [...this.byId.values()].map((e) => (e.stored.id === key.id ? key : e.stored));
      if (!this.byId.has(key.id)) all.push(key);
      await this.store.save(key, all);
      this.put(key);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  private replace(keys: readonly StoredKey[]): void {
    this.recent.clear();
    this.byId.clear();
    for (const k of keys) this.put(k);
  }

  private put(stored: StoredKey): void {
    this.recent.clear();
    const known = this.byId.get(stored.id);
    // A tombstone wins over any later copy of the live key (a replay, a stale node).
    if (known?.stored.revokedAt !== undefined) return;
    this.byId.set(stored.id, { stored, digest: Buffer.from(stored.digest, 'hex'), principal: principalOf(stored) });
  }
}

export const ROOT: Principal = Object.freeze({ id: ROOT_ID, admin: true, write: true, read: true });

function principalOf(k: StoredKey): Principal {
  const admin = k.scopes.includes('admin');
  return Object.freeze({
    id: k.id,
    admin,
    write: admin || k.scopes.includes('write'),
    read: admin || k.scopes.includes('read'),
    ...(k.campaigns !== null && !admin && { campaigns: new Set(k.campaigns) }),
    ...(k.expiresAt !== undefined && { expiresAt: k.expiresAt }),
  });
}

/** What the API shows of a key: never its secret, nor its digest. */
export function keyJson(k: StoredKey): Record<string, unknown> {
  return {
    id: k.id,
    name: k.name,
    scopes: k.scopes,
    campaigns: k.campaigns,
    created_at: new Date(k.createdAt).toISOString(),
    expires_at: k.expiresAt === undefined ? null : new Date(k.expiresAt).toISOString(),
  };
}
