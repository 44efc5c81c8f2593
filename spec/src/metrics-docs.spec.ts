import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { TestApp } from '../helpers/app.js';
import { startFullApp } from '../helpers/full-app.js';
import { API, LONG_AGO } from '../helpers/http.js';
import { Metrics } from '../../src/metrics.js';

const API_MD = readFileSync(fileURLToPath(new URL('../../api.md', import.meta.url)), 'utf8');

/** The rows of api.md's metrics table, by metric name. */
function documentedRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of API_MD.matchAll(/^\| `(impression_counter_\w+)` \|(.*)$/gm)) rows.set(m[1], m[2]);
  return rows;
}

/** Each metric family an exposition text declares (`# TYPE name kind`), with the label values its samples carry. */
function families(text: string): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const m of text.matchAll(/^# TYPE (impression_counter_\w+) \w+$/gm)) out.set(m[1], new Map());
  for (const m of text.matchAll(/^(impression_counter_\w+?)(?:_bucket|_sum|_count)?\{([^}]*)\} /gm)) {
    const labels = out.get(m[1]);
    if (labels === undefined) continue;
    for (const pair of m[2].matchAll(/(\w+)="([^"]*)"/g)) {
      if (pair[1] === 'le') continue;
      let values = labels.get(pair[1]);
      if (values === undefined) labels.set(pair[1], (values = new Set()));
      values.add(pair[2]);
    }
  }
  return out;
}

describe('api.md documents every metric series the service exposes', () => {
  let t: TestApp;
  before(async () => {
    t = await startFullApp({ clickTtlMs: 60_000 });
    const c = (await t.request('POST', `${API}/campaigns`, { name: 'm', start_time: LONG_AGO })).body.id;
    await t.request('POST', `${API}/impressions`, [{ campaign_id: c, user_id: 'u', ad_id: 'a' }, { campaign_id: c, user_id: 'u', ad_id: 'a' }, {}]);
    await t.request('POST', `${API}/clicks`, [{ campaign_id: c, ad_id: 'a', user_id: 'u' }, { campaign_id: 'nope', ad_id: 'a' }]);
    await t.request('GET', `${API}/campaigns/${c}/stats`, undefined, { authorization: 'Bearer wrong-key-0123456789abcdefghijklmnop' });
  });
  after(() => t.close());

  it('a row per impression_counter_* family, with the label names and outcome values it answers', async () => {
    const res = await t.request('GET', '/metrics');
    expect(res.status).to.equal(200);
    // The series only a journal, a recovery or the HTTP server adds, on a registry of their own.
    const extra = new Metrics({ source: { describe: () => Promise.resolve(undefined) } as never, processMetrics: false });
    extra.recovered({ records: 0, analyticsRecords: 0, repeated: 0, orphaned: 0, missing: 0, damaged: [], torn: [], quarantined: [], ms: 0 });
    extra.watchHttp({ connections: { open: 0, refused: 0 }, bodies: { used: 0, refused: 0 } });
    const exposed = new Map([...families(String(res.body)), ...families(await extra.registry.metrics())]);
    expect(exposed.size).to.be.greaterThan(20);
    const rows = documentedRows();
    const missing = [...exposed.keys()].filter((name) => !rows.has(name));
    expect(missing, `metrics api.md's /metrics table does not list`).to.deep.equal([]);
    const stale = [...rows.keys()].filter((name) => !exposed.has(name));
    expect(stale, 'metrics api.md lists but the service does not expose').to.deep.equal([]);
    for (const [name, labels] of exposed) {
      const row = rows.get(name) as string;
      for (const [label, values] of labels) {
        expect(row, `${name}: label ${label}`).to.include(`\`${label}\``);
        if (label !== 'outcome' && label !== 'reason') continue;
        for (const value of values) expect(row, `${name}{${label}="${value}"}`).to.include(`\`${value}\``);
      }
    }
  });
});
