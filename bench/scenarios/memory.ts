import type { Check, Figure, Scenario } from '../lib/types.js';
import { runWorker } from '../lib/worker.js';
import type { MemoryParams, MemoryPoint } from '../workers/memory.js';

/**
 * Bytes per live dedupe key after 1M and 10M distinct users in one campaign, each in a fresh
 * `--expose-gc` process, beside a Map<string, number> holding the same ids (1M).
 */
const MILLION = 1_000_000;

export const memory: Scenario = {
  id: 'memory',
  title: 'memory per dedupe key',
  async run(ctx) {
    const checkpoints = ctx.quick ? [MILLION] : [MILLION, 10 * MILLION];
    ctx.log(`memory: ${checkpoints.map((c) => c / MILLION + 'M').join(' and ')} distinct users in one campaign`);
    const run = (params: MemoryParams) =>
      runWorker<MemoryPoint[]>({ name: `memory worker (${params.kind})`, script: 'bench/workers/memory.ts', params, nodeArgs: ['--expose-gc'], timeoutMs: 300_000 });
    const ours = await run({ kind: 'ours', checkpoints });
    const [map] = await run({ kind: 'map', checkpoints: [MILLION] });
    for (const pt of [...ours, map]) {
      ctx.log(
        `  ${pt === map ? 'Map' : 'ours'} @${pt.keys / MILLION}M: heap+external ${pt.heapPerKey.toFixed(1)} B/key ` +
          `(heapUsed ${pt.jsHeapPerKey.toFixed(1)}, external ${pt.externalPerKey.toFixed(1)}), RSS ${pt.rssPerKey.toFixed(1)} B/key` +
          (Number.isFinite(pt.perSecond) ? `, ingested at ${Math.round(pt.perSecond)} imp/s` : ''),
      );
    }
    const mapName = 'Map<string, number> @1M';
    const figures: Figure[] = ours.flatMap((pt) => [
      {
        name: `heap B/key @${pt.keys / MILLION}M`,
        unit: 'B/key',
        value: pt.heapPerKey,
        target: { op: '<=', value: 24 },
        baselines: [{ name: mapName, value: map.heapPerKey }],
      },
      { name: `RSS B/key @${pt.keys / MILLION}M`, unit: 'B/key', value: pt.rssPerKey, baselines: [{ name: mapName, value: map.rssPerKey }] },
    ]);
    const checks: Check[] = ours.map((pt) => ({
      name: `total = distinct users sent @${pt.keys / MILLION}M`,
      ok: pt.total === pt.keys,
      detail: `${pt.total.toLocaleString('en-US')} counted, ${pt.keys.toLocaleString('en-US')} distinct`,
    }));
    return [
      {
        title: '4 memory, 1 campaign',
        figures,
        checks,
        notes: [
          'heap = V8 heapUsed + external (typed-array stores live outside the JS heap), after full GC, beyond the process baseline; ' +
            `15-character user ids; ours: ${ours.map((pt) => `${pt.jsHeapPerKey.toFixed(1)} heapUsed + ${pt.externalPerKey.toFixed(1)} external B/key @${pt.keys / MILLION}M`).join(', ')}`,
        ],
      },
    ];
  },
};
