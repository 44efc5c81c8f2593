import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { EPOCH_GUARD } from '../redis-epoch.js';

/**
 * The Lua scripts of the Redis store, one `.lua` file each under `scripts/`, read when a store is
 * made and defined on its client as commands. Each takes the campaign's keys and, last, the epoch
 * key of their slot, which `EPOCH_GUARD` (redis-epoch.ts) checks before anything else runs.
 */
export interface Scripts {
  icIngest(key: string, epoch: string, ...args: (string | number)[]): Promise<string>;
  icStats(meta: string, epoch: string, at: number): Promise<number[]>;
  icClicks(key: string, epoch: string, ...args: (string | number)[]): Promise<string>;
  icAnalytics(key: string, epoch: string, ...args: (string | number)[]): Promise<(number | string)[]>;
  icAdRegister(key: string, epoch: string, ...args: (string | number)[]): Promise<string>;
  icAdList(key: string, epoch: string, after: number, limit: number): Promise<(number | string)[]>;
  icAdTotals(key: string, epoch: string, ...minutes: number[]): Promise<(number | string)[]>;
  icSeries(key: string, epoch: string, ...args: (string | number)[]): Promise<number[]>;
  /** KEYS: one campaign hash, then its slot's epoch key; `0` or `1`. */
  icExists(key: string, epoch: string): Promise<string>;
  /** KEYS: campaign hashes, then the epoch key; one `0`/`1` per campaign. Single Redis only (see `RedisStore.exists`). */
  icExistsMany(keyCount: number, ...keys: string[]): Promise<string>;
  icGet(key: string, epoch: string): Promise<(string | null)[]>;
  icCreate(key: string, epoch: string, name: string, start: number, created: number): Promise<number>;
}

/** Each command: its file, how many of its arguments are keys (absent: given per call), whether it only reads. */
const COMMANDS: Readonly<Record<keyof Scripts, readonly [file: string, keys: number | undefined, readOnly: boolean]>> = {
  icIngest: ['ingest.lua', 2, false],
  icStats: ['stats.lua', 2, true],
  icClicks: ['clicks.lua', 2, false],
  icAnalytics: ['analytics.lua', 2, true],
  icAdRegister: ['ad-register.lua', 2, false],
  icAdList: ['ad-list.lua', 2, true],
  icAdTotals: ['ad-totals.lua', 2, true],
  icSeries: ['series.lua', 2, true],
  icExists: ['exists.lua', 2, true],
  icExistsMany: ['exists.lua', undefined, true],
  icGet: ['get.lua', 2, true],
  icCreate: ['create.lua', 2, false],
};

const DIR = new URL('./scripts/', import.meta.url);
/** A line `-- include: <file>.lua` stands for that file's text (shared fragments such as tally.lua). */
const INCLUDE = /^-- include: ([\w-]+\.lua)\n/gm;
const texts = new Map<string, string>();

/** A script's source with its includes in place; each file is read once per process. */
export function scriptSource(file: string): string {
  let text = texts.get(file);
  if (text === undefined) {
    text = readFileSync(new URL(file, DIR), 'utf8').replace(INCLUDE, (_line, included: string) => scriptSource(included));
    texts.set(file, text);
  }
  return text;
}

/** Defines every script on `client`, behind the epoch guard, and returns them as typed commands. */
export function defineScripts(client: Redis | Cluster): Scripts {
  for (const [name, [file, numberOfKeys, readOnly]] of Object.entries(COMMANDS)) {
    client.defineCommand(name, { numberOfKeys, lua: EPOCH_GUARD + scriptSource(file), readOnly });
  }
  return client as unknown as Scripts;
}
