import { median } from '../lib/percentiles.js';
import type { Scenario } from '../lib/types.js';
import { runWorker } from '../lib/worker.js';
import type { InprocParams, InprocResult } from '../workers/inproc.js';

/** In-process ingestion through the actor system, beside a plain Map-dedupe loop on the same items. */
const FULL: InprocParams = { items: 1_000_000, campaigns: 4, batch: 1000, reps: 3 };
const QUICK: InprocParams = { items: 300_000, campaigns: 4, batch: 1000, reps: 3 };

export const inproc: Scenario = {
  id: 'inproc',
  title: 'in-process ingestion',
  async run(ctx) {
    const params = ctx.quick ? QUICK : FULL;
    ctx.log(`in-process: ${params.items.toLocaleString('en-US')} impressions in batches of ${params.batch}, ${params.reps} reps`);
    const r = await runWorker<InprocResult>({ name: 'inproc worker', script: 'bench/workers/inproc.ts', params, timeoutMs: 180_000 });
    const list = (xs: number[]): string => xs.map((x) => Math.round(x)).join(', ');
    ctx.log(`  ours ${list(r.ours)} imp/s (${list(r.oursCpu)} imp/CPU-s); Map loop ${list(r.map)} imp/s (${list(r.mapCpu)} imp/CPU-s)`);
    return [
      {
        title: `3 in-process, batches of ${params.batch.toLocaleString('en-US')}`,
        figures: [
          {
            name: 'impressions per CPU-second',
            unit: 'imp/CPU-s',
            value: median(r.oursCpu),
            target: { op: '>=', value: 5_000_000 },
            baselines: [{ name: 'Map loop', value: median(r.mapCpu) }],
          },
          { name: 'impressions per second', unit: 'imp/s', value: median(r.ours), baselines: [{ name: 'Map loop', value: median(r.map) }] },
        ],
        checks: r.checks,
        notes: [
          `counter.impressions.recordMany over ${params.items.toLocaleString('en-US')} impressions (~50 % repeats, ${params.campaigns} campaigns), median of ${params.reps} reps, ` +
            'against a plain loop deduping the same items in per-campaign Map<string, number>; ' +
            "the target is judged per CPU-second (one core's worth), which neighbours on the machine do not depress",
        ],
      },
    ];
  },
};
