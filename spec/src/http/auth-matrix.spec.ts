import { expect } from 'chai';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { beaconPath } from '../../../src/http/beacons.js';
import { ROUTES } from '../../../src/http/route-table.js';
import { Inspector } from '../../../src/inspector.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { API, LONG_AGO } from '../../helpers/http.js';

const ADMIN_KEY = 'matrix-admin-key-0123456789abcdefghij';
const SECRET = 'matrix-beacon-secret-0123456789abcdef';

type Who = 'none' | 'unknown' | 'revoked' | 'read' | 'write' | 'admin' | 'other';
const WHO: readonly Who[] = ['none', 'unknown', 'revoked', 'read', 'write', 'admin', 'other'];

/**
 * Every route × every kind of caller, and the status each must get. `{A}` is campaign A; `other` is a
 * read+write key limited to campaign B. Requests come from loopback, but ADMIN_KEY is set, so loopback
 * is not trusted (the protected default is tested on its own below and in auth.spec.ts).
 */
// prettier-ignore
const MATRIX: readonly [string, unknown, ...number[]][] = [
  //  route                                          body                                                        none unkn revk read write admin other
  ['POST /api/v1/campaigns',                         { name: 'm', start_time: LONG_AGO },                          401, 401, 401, 403, 403, 201, 403],
  ['GET /api/v1/campaigns',                          undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/campaigns/{A}',                      undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/campaigns/{A}/stats',                undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['POST /api/v1/impressions',                       { campaign_id: '{A}', user_id: 'u', ad_id: 'ad' },            401, 401, 401, 403, 200, 200, 403],
  ['POST /api/v1/campaigns/{A}/ads',                 { name: 'n', image_url: 'https://x.test/i.png', target_url: 'https://x.test/' }, 401, 401, 401, 403, 403, 201, 403],
  ['GET /api/v1/campaigns/{A}/ads',                  undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/campaigns/{A}/ads/{ad_id}',          undefined,                                                    401, 401, 401, 404, 403, 404, 403],
  ['GET /api/v1/ads',                                undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/ads/analytics',                      undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['POST /api/v1/clicks',                            { campaign_id: '{A}', ad_id: 'ad', user_id: 'u' },            401, 401, 401, 403, 200, 200, 403],
  ['GET /api/v1/campaigns/{A}/analytics',            undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/campaigns/{A}/timeseries',           undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/campaigns/{A}/events',              undefined,                                                    401, 401, 401, 200, 403, 200, 403],
  ['GET /api/v1/openapi.json',                       undefined,                                                    200, 200, 200, 200, 200, 200, 200],
  ['POST /api/v1/keys',                              { scopes: ['read'] },                                         401, 401, 401, 403, 403, 201, 403],
  ['GET /api/v1/keys',                               undefined,                                                    401, 401, 401, 403, 403, 200, 403],
  ['DELETE /api/v1/keys/ffffffffffffffff',           undefined,                                                    401, 401, 401, 403, 403, 404, 403],
  ['POST /api/v1/beacons',                           { type: 'impression', campaign_id: '{A}', ad_id: 'ad', user_id: 'u' }, 401, 401, 401, 403, 201, 201, 403],
  ['GET /api/v1/beacon?{beacon}',                    undefined,                                                    204, 204, 204, 204, 204, 204, 204],
  ['POST /api/v1/beacon?{beacon}',                   'sendBeacon',                                                 204, 204, 204, 204, 204, 204, 204],
  ['POST /api/v1/admin/redis/accept-reset',          undefined,                                                    401, 401, 401, 403, 403, 200, 403],
  ['GET /metrics',                                   undefined,                                                    401, 401, 401, 403, 403, 200, 403],
  ['GET /healthz',                                   undefined,                                                    200, 200, 200, 200, 200, 200, 200],
  ['GET /readyz',                                    undefined,                                                    200, 200, 200, 200, 200, 200, 200],
  ['GET /',                                         undefined,                                                    200, 200, 200, 200, 200, 200, 200],
  ['GET /dashboard/',                                undefined,                                                    200, 200, 200, 200, 200, 200, 200],
  ['GET /dashboard/app.js',                          undefined,                                                    200, 200, 200, 200, 200, 200, 200],
  ['GET /debug/',                                    undefined,                                                    401, 401, 401, 403, 403, 200, 403],
  ['GET /debug/actors',                              undefined,                                                    401, 401, 401, 403, 403, 200, 403],
  ['GET /debug/events',                              undefined,                                                    401, 401, 401, 403, 403, 200, 403],
];

describe('auth: every route × every kind of key', () => {
  let t: TestApp;
  const secrets = {} as Record<Who, string | undefined>;
  let a: string;

  before(async () => {
    const keys = new KeyRing(new MemoryKeyStore(), ADMIN_KEY);
    t = await startTestApp({
      deps: (system) => ({
        keys,
        beaconSecret: SECRET,
        inspector: new Inspector({ system: system.registry.system }),
        redisAdmin: { acceptReset: () => Promise.resolve({ accepted: false, epoch: undefined, repairedSlots: 0 }) },
      }),
    });
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    a = (await t.request('POST', `${API}/campaigns`, { name: 'A', start_time: LONG_AGO }, admin)).body.id;
    const b = (await t.request('POST', `${API}/campaigns`, { name: 'B', start_time: LONG_AGO }, admin)).body.id;
    const make = async (body: unknown) => (await t.request('POST', `${API}/keys`, body, admin)).body as { id: string; key: string };
    secrets.none = undefined;
    secrets.unknown = `ick_0123456789abcdef_${'x'.repeat(43)}`;
    const revoked = await make({ scopes: ['read', 'write'] });
    expect((await t.request('DELETE', `${API}/keys/${revoked.id}`, undefined, admin)).status).to.equal(200);
    secrets.revoked = revoked.key;
    secrets.read = (await make({ scopes: ['read'] })).key;
    secrets.write = (await make({ scopes: ['write'] })).key;
    secrets.admin = (await make({ scopes: ['admin'], name: 'ops' })).key;
    secrets.other = (await make({ scopes: ['read', 'write'], campaigns: [b] })).key;
  });
  after(() => t.close());

  it("gives every route of the route table a key scope or 'public', and leaves none out of the matrix", () => {
    const documented = ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(ROUTES.filter((r) => !['admin', 'write', 'read', 'public'].includes(r.scope)).map((r) => `${r.method} ${r.path}`), 'routes without a scope').to.deep.equal([]);
    const covered = MATRIX.map(([route]) => route.split('?')[0].replace('{A}', '{id}').replace(/keys\/f+$/, 'keys/{key_id}').replace('/dashboard/app.js', '/dashboard/{file}'));
    expect(documented.filter((r) => !covered.includes(r)), 'routes the matrix leaves out').to.deep.equal([]);
  });

  it('answers each status the table says', async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const [route, body, ...statuses] of MATRIX) {
      const [method, template] = route.split(' ');
      for (let i = 0; i < WHO.length; i++) {
        const beacon = beaconPath(SECRET, { type: 'impression', campaignId: a, adId: 'ad', userId: `beacon-${i}`, expiresAt: Date.now() + 60_000 }).split('?')[1];
        const path = template.replace('{A}', a).replace('{beacon}', beacon);
        const headers: Record<string, string> = secrets[WHO[i]] === undefined ? {} : { authorization: `Bearer ${secrets[WHO[i]]}` };
        const filled = body === 'sendBeacon' ? 'ping' : body === undefined ? undefined : JSON.parse(JSON.stringify(body).replaceAll('{A}', a));
        if (body === 'sendBeacon') headers['content-type'] = 'text/plain;charset=UTF-8';
        const status = await statusOf(t, method, path, filled, headers);
        got.push(`${route} ${WHO[i]} → ${status}`);
        want.push(`${route} ${WHO[i]} → ${statuses[i]}`);
      }
    }
    expect(got).to.deep.equal(want);
  });
});

/** The status of a request; an event stream is cut as soon as its headers arrive. */
async function statusOf(t: TestApp, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<number> {
  if (!path.startsWith('/debug/events') && !path.endsWith('/events')) return (await t.request(method, path, body, headers)).status;
  const abort = new AbortController();
  const res = await fetch(t.baseUrl + path, { headers, signal: abort.signal });
  abort.abort();
  return res.status;
}
