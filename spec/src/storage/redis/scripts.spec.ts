import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Cluster, Redis } from 'ioredis';
import { defineScripts, scriptSource } from '../../../../src/storage/redis/scripts.js';
import { EPOCH_GUARD } from '../../../../src/storage/redis-epoch.js';

const DIR = fileURLToPath(new URL('../../../../src/storage/redis/scripts/', import.meta.url));

/** A client stand-in that only records what is defined on it. */
function recordingClient(): { client: Redis | Cluster; defined: Map<string, { numberOfKeys?: number; lua: string; readOnly?: boolean }> } {
  const defined = new Map<string, { numberOfKeys?: number; lua: string; readOnly?: boolean }>();
  const client = { defineCommand: (name: string, def: { numberOfKeys?: number; lua: string; readOnly?: boolean }) => void defined.set(name, def) };
  return { client: client as unknown as Redis | Cluster, defined };
}

describe('Redis store scripts (src/storage/redis/scripts/*.lua)', () => {
  it('puts each included file where its "-- include:" line stands, and leaves no include behind', () => {
    const ingest = scriptSource('ingest.lua');
    expect(ingest).not.to.match(/^-- include:/m);
    expect(ingest).to.include(scriptSource('tally.lua'));
    // The fragment is placed after the locals it uses, not appended.
    expect(ingest.indexOf('local function rowOf')).to.be.greaterThan(ingest.indexOf('local MAX_ADS'));
  });

  it('defines every command behind the epoch guard, writers as writers, and uses every file', () => {
    const { client, defined } = recordingClient();
    defineScripts(client);
    for (const [name, def] of defined) expect(def.lua.startsWith(EPOCH_GUARD), name).to.equal(true);
    expect(defined.get('icIngest')?.readOnly).to.equal(false);
    expect(defined.get('icStats')).to.include({ numberOfKeys: 2, readOnly: true });
    expect(defined.get('icExistsMany')?.numberOfKeys).to.equal(undefined);
    const used = new Set([...defined.values()].map((d) => d.lua));
    for (const file of readdirSync(DIR)) {
      const text = scriptSource(file);
      const inUse = [...used].some((lua) => lua.includes(text));
      expect(inUse, `${file} is neither a command nor included by one`).to.equal(true);
    }
  });
});
