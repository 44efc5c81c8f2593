import type { Check, Figure, Scenario, Section } from '../lib/types.js';
import { runWorker } from '../lib/worker.js';
import type { HostileParams, HostilePoint } from '../workers/hostile-memory.js';
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
    const hostile = await hostileMemory(ctx);
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
      hostile,
    ];
  },
};

/**
 * The analytics attack: campaigns of 10,000 distinct users over 1,000 ad ids (100 batches each), per
 * campaign, beside the same run with one ad id (the dedupe keys and campaign-wide figures alone).
 */
async function hostileMemory(ctx: Parameters<Scenario['run']>[0]): Promise<Section> {
  const campaigns = ctx.quick ? 40 : 200;
  ctx.log(`memory: ${campaigns} campaigns x 10,000 impressions over 1,000 ad ids, and over one`);
  const run = (params: HostileParams) =>
    runWorker<HostilePoint>({ name: `hostile memory worker (${params.ads} ads)`, script: 'bench/workers/hostile-memory.ts', params, nodeArgs: ['--expose-gc'], timeoutMs: 600_000 });
  const ads = await run({ campaigns, ads: 1000 });
  const one = await run({ campaigns, ads: 1 });
  const kb = (b: number): number => b / 1024;
  for (const [name, pt] of [['1,000 ads', ads], ['1 ad', one]] as const) {
    ctx.log(`  ${name}: RSS ${kb(pt.rss).toFixed(0)} KB, heap+external ${kb(pt.heap).toFixed(0)} KB, state_bytes ${kb(pt.stateBytes).toFixed(0)} KB per campaign`);
  }
  return {
    title: '4b memory, hostile analytics (1,000 ads per campaign)',
    figures: [
      { name: 'RSS KB/campaign', unit: 'KB', value: kb(ads.rss), target: { op: '<=', value: 512 }, baselines: [{ name: 'same run, 1 ad id', value: kb(one.rss) }] },
      { name: 'heap+external KB/campaign', unit: 'KB', value: kb(ads.heap), baselines: [{ name: 'same run, 1 ad id', value: kb(one.heap) }] },
      { name: 'state_bytes / heap growth', unit: 'x', value: ads.stateBytes / ads.heap, target: { op: '>=', value: 0.8 } },
      { name: 'heap growth / state_bytes', unit: 'x', value: ads.heap / ads.stateBytes, target: { op: '>=', value: 0.8 } },
    ],
    checks: [
      { name: 'every impression counted (1,000 ads)', ok: ads.total === campaigns * 10_000, detail: `${ads.total.toLocaleString('en-US')} of ${(campaigns * 10_000).toLocaleString('en-US')}` },
    ],
    notes: [
      `marginal figures over the second half of ${campaigns} campaigns, after a full GC at the half-way point and at the end; ` +
        'state_bytes = the sum of the campaign actors\' byte figures (impression_counter_state_bytes); the two ratio rows together bound it within ±20 % of the heap growth',
    ],
  };
}
