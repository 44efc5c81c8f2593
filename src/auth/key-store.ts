import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Cluster, Redis } from 'ioredis';
import { errorCode, nodeFs, writeFully, type DiskFs } from '../storage/fs.js';
import type { KeyStore, StoredKey } from './keys.js';

export const KEYS_FILE = 'keys.json';

/**
 * Keys under DATA_DIR, in one small file rewritten whole on every change: temp file, fdatasync,
 * rename, fsync of the directory, then read back. Key changes are rare (an operator's calls), so a
 * whole-file rewrite costs nothing that matters and needs neither journal replay nor compaction;
 * the file carries a crc32 so that a damaged one is refused at start rather than read as "no keys"
 * (which would silently open the service to loopback or lock out every advertiser).
 */
export class FileKeyStore implements KeyStore {
  private readonly path: string;

  constructor(
    private readonly dir: string,
    private readonly fs: DiskFs = nodeFs,
  ) {
    this.path = join(dir, KEYS_FILE);
  }

  async load(): Promise<StoredKey[]> {
    await this.fs.mkdir(this.dir);
    let text: string;
    try {
      text = await this.read(this.path);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return [];
      throw err;
    }
    return parseKeysFile(text, this.path);
  }

  async save(_key: StoredKey, all: readonly StoredKey[]): Promise<void> {
    const json = JSON.stringify(all);
    const text = `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
    const tmp = `${this.path}.tmp`;
    try {
      const file = await this.fs.open(tmp, 'w');
      try {
        await writeFully(file, [Buffer.from(text)], 0);
        await file.datasync();
      } finally {
        await file.close();
      }
      await this.fs.rename(tmp, this.path);
      await this.fs.syncDir(this.dir);
    } catch (err) {
      await this.fs.rm(tmp).catch(() => undefined);
      throw err;
    }
    if ((await this.read(this.path)) !== text) throw new Error(`${this.path} did not read back as written`);
  }

  private async read(path: string): Promise<string> {
    const file = await this.fs.open(path, 'r');
    try {
      const size = await file.size();
      const buf = Buffer.alloc(size);
      let at = 0;
      while (at < size) {
        const { bytesRead } = await file.read(buf, at, size - at, at);
        if (bytesRead <= 0) break;
        at += bytesRead;
      }
      return buf.toString('utf8', 0, at);
    } finally {
      await file.close();
    }
  }
}

/** Parses a keys file, refusing one whose checksum does not match. */
export function parseKeysFile(text: string, path: string): StoredKey[] {
  const m = /^([0-9a-f]{8}) (.*)\n$/s.exec(text);
  if (m === null || parseInt(m[1], 16) !== crc32(m[2])) {
    throw new Error(`${path} is damaged (its checksum does not match); restore it from a backup, or move it aside to start with no API keys`);
  }
  return JSON.parse(m[2]) as StoredKey[];
}

/** How often each node looks for key changes made on other nodes: a revocation applies everywhere within ~1 s. */
export const KEY_POLL_MS = 250;
const HASH = 'ic:{keys}:all';
const VERSION = 'ic:{keys}:v';

/**
 * Keys in Redis (STORE=redis): one hash of every key (tombstones included) and a version bumped with
 * each change, both under one hash tag so that a cluster keeps them on one shard. Every node reads
 * the version every KEY_POLL_MS and reloads the hash when it moved; requests never wait on Redis.
 */
export class RedisKeyStore implements KeyStore {
  private version: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private changed: ((keys: StoredKey[]) => void) | undefined;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  async load(): Promise<StoredKey[]> {
    const [version, all] = await Promise.all([this.client.get(VERSION), this.client.hgetall(HASH)]);
    this.version = version;
    return Object.values(all).map((j) => JSON.parse(j) as StoredKey);
  }

  async save(key: StoredKey): Promise<void> {
    const result = await this.client.multi().hset(HASH, key.id, JSON.stringify(key)).incr(VERSION).exec();
    const failed = result?.find(([err]) => err !== null)?.[0];
    if (result === null || failed) throw failed ?? new Error('the key change was not applied in Redis');
  }

  watch(changed: (keys: StoredKey[]) => void): void {
    this.changed = changed;
    this.timer = setInterval(() => void this.poll().catch(this.onError), KEY_POLL_MS);
    this.timer.unref();
  }

  /** One look for changes (what the timer does every KEY_POLL_MS). */
  async poll(): Promise<void> {
    const version = await this.client.get(VERSION);
    if (version === this.version) return;
    const keys = await this.load();
    this.changed?.(keys);
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return Promise.resolve();
  }
}
