import type { Impression } from '../../actors/protocol.js';
import type { CounterSystem } from '../../actors/system.js';
import { startCounting } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { Counter } from '../../src/counter.js';

/**
 * The actor system and its façade in this process, configured with the service's defaults (no
 * journal: the in-process figures are the counting engine's). Campaign ids are `c0`, `c1`, … so
 * workloads can be generated before the campaigns exist.
 */
export interface InProcess {
  readonly system: CounterSystem;
  readonly counter: Counter;
}

export function startInProcess(): InProcess {
  let next = 0;
  return startCounting(loadConfig({}), {
    onFatal: (err) => {
      throw err;
    },
    newId: () => `c${next++}`,
  });
}

export function campaignIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `c${i}`);
}

/** Creates campaigns `c0`…`c{count-1}`, started long ago so that no impression is early. */
export async function createInProcessCampaigns(counter: Counter, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await counter.campaigns.create({ name: `bench-${i}`, startTime: 0 })).id);
  return ids;
}

/** Feeds items in batches and fails loudly on any outcome other than counted/duplicate. */
export async function ingest(counter: Counter, batches: readonly (readonly Impression[])[]): Promise<void> {
  for (const batch of batches) {
    const { outcomes } = await counter.impressions.recordMany(batch);
    for (const o of outcomes) if (o !== 'counted' && o !== 'duplicate') throw new Error(`unexpected outcome ${o}`);
  }
}
