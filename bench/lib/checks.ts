import type { LoadResult } from '../load.js';
import { fetchTotals } from './servers.js';
import type { Check } from './types.js';
import { distinctPerCampaign, type Workload } from './workload.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * The service's `total` per campaign (read over HTTP) against the distinct users among the first
 * `itemsSent` impressions of `w`. Only exact when every request was answered 2xx.
 */
export async function totalsCheck(port: number, w: Workload, itemsSent: number, load: LoadResult): Promise<Check> {
  const name = 'total = distinct users sent';
  if (load.failed > 0) return { name, ok: false, detail: `${load.failed} requests failed, first: ${load.firstError}` };
  const expected = distinctPerCampaign(w, itemsSent);
  const totals = await fetchTotals(port, w.campaignIds);
  return totalsAgree(name, totals, expected);
}

/** Compares per-campaign totals with the expected distinct users. */
export function totalsAgree(name: string, totals: readonly number[], expected: readonly number[]): Check {
  const wrong = totals.flatMap((t, i) => (t === expected[i] ? [] : [`campaign #${i}: ${t} ≠ ${expected[i]}`]));
  const detail = `${sum(totals).toLocaleString('en-US')} counted, ${sum(expected).toLocaleString('en-US')} distinct over ${totals.length} campaigns`;
  return { name, ok: wrong.length === 0, detail: wrong.length === 0 ? detail : `${detail}; ${wrong.slice(0, 3).join(', ')}` };
}

/** A baseline's run is only comparable when it answered every request 2xx. */
export function answeredCheck(server: string, load: LoadResult): Check {
  return {
    name: `${server} answered every request 2xx`,
    ok: load.failed === 0,
    detail: load.failed === 0 ? `${load.ok.toLocaleString('en-US')} requests` : `${load.failed} failed, first: ${load.firstError}`,
  };
}
