import { expect } from 'chai';
import sinon from 'sinon';
import { MAX_WATCHERS } from '../../../src/http/debug.js';
import { KeyRing, MemoryKeyStore } from '../../../src/auth/keys.js';
import { Inspector } from '../../../src/inspector.js';
import { startTestApp, useTestApp, type TestApp } from '../../helpers/app.js';
import { createCampaign, expectError, impression, postImpression } from '../../helpers/http.js';
import { openSse, until, type SseClient } from '../../helpers/sse.js';

const TOKEN = 'inspector-admin-key-0123456789abcdef';

interface Inspected {
  t: TestApp;
  inspector: Inspector;
  inspect: sinon.SinonSpy;
}

/** The app with the inspector on (and `token` as ADMIN_KEY when given); `inspect` spies on the actor system's inspection hook. */
async function startInspected(token = ''): Promise<Inspected> {
  let inspector: Inspector | undefined;
  let inspect: sinon.SinonSpy | undefined;
  const t = await startTestApp({
    deps: (system) => {
      inspect = sinon.spy(system.registry.system, 'inspect');
      inspector = new Inspector({ system: system.registry.system });
      return { inspector, keys: new KeyRing(new MemoryKeyStore(), token) };
    },
  });
  return { t, inspector: inspector!, inspect: inspect! };
}

describe('inspector HTTP (/debug)', () => {
  const streams: SseClient[] = [];
  const open = async (t: TestApp, path: string, headers?: Record<string, string>): Promise<SseClient> => {
    const s = await openSse(t.baseUrl, path, headers);
    streams.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of streams.splice(0)) s.close();
  });

  describe('when off (the default)', () => {
    const t = useTestApp({}, 'suite');

    it('serves none of its routes', async () => {
      for (const path of ['/debug/', '/debug/actors', '/debug/events']) expectError(await t.request('GET', path), 404);
    });
  });

  describe('when on without a token (loopback)', () => {
    let x: Inspected;
    let campaign: string;
    beforeEach(async () => {
      x = await startInspected();
      campaign = await createCampaign(x.t);
    });
    afterEach(() => x.t.close());

    it('GET /debug/actors shows the registry and each campaign actor with its restarts, live keys and counters', async () => {
      await postImpression(x.t, impression(campaign, 'u1'));
      await postImpression(x.t, impression(campaign, 'u2'));
      await postImpression(x.t, impression(campaign, 'u2'));
      const res = await x.t.request('GET', '/debug/actors');
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({
        id: 'registry',
        campaigns: 1,
        suspended: 0,
        restarts: 0,
        live_keys: 2,
        children: [{ id: `campaign:${campaign}`, campaign_id: campaign, status: 'live', restarts: 0, live_keys: 2, total: 2, bytes: res.body.children[0].bytes }],
        truncated: false,
        inspector: { attached: false, watchers: 0 },
      });
      expect(res.body.children[0].bytes).to.be.a('number').greaterThan(0);
    });

    it('GET /debug/actors?limit= lists at most that many campaigns and says so', async () => {
      await createCampaign(x.t);
      const res = await x.t.request('GET', '/debug/actors?limit=1');
      expect(res.body.campaigns).to.equal(2);
      expect(res.body.children).to.have.length(1);
      expect(res.body.truncated).to.equal(true);
      expectError(await x.t.request('GET', '/debug/actors?limit=0'), 400, 'limit');
      expectError(await x.t.request('GET', '/debug/actors?depth=2'), 400, 'depth');
    });

    it('GET /debug/events streams a campaign actor processing impressions', async () => {
      const s = await open(x.t, `/debug/events?actor=campaign:${campaign}&type=impressions`);
      expect(s.status).to.equal(200);
      expect(s.headers['content-type']).to.match(/^text\/event-stream/);
      expect(s.headers['cache-control']).to.equal('no-store');
      expect(s.headers['x-request-id']).to.be.a('string');
      await postImpression(x.t, impression(campaign, 'u1'));
      await postImpression(x.t, impression(campaign, 'u1'));
      const outcomes = await s.waitFor((rs) => {
        const done = rs.filter((r) => r.kind === 'snapshot').map((r) => r.event.out[0]);
        return done.length === 2 ? done : undefined;
      }, 'two processed impressions');
      expect(outcomes).to.deep.equal(['counted', 'duplicate']);
      for (const r of s.records) expect([r.actor, r.type]).to.deep.equal([`campaign:${campaign}`, 'impressions']);
    });

    it('redacts user ids unless redact=off, and never sends reply callbacks', async () => {
      const redacted = await open(x.t, '/debug/events?type=impressions');
      const clear = await open(x.t, '/debug/events?type=impressions&redact=off');
      await postImpression(x.t, impression(campaign, 'alice@example.com'));
      await redacted.waitFor((rs) => (rs.length >= 4 ? true : undefined), 'redacted records');
      await clear.waitFor((rs) => (rs.length >= 4 ? true : undefined), 'clear records');

      expect(redacted.frames.join('\n')).not.to.include('alice@example.com');
      const registryEvent = redacted.records.find((r) => r.actor === 'registry' && r.kind === 'event');
      expect(registryEvent.event.items[0].userId).to.match(/^user:[0-9a-f]{12}$/);
      expect(registryEvent.event).not.to.have.property('reply');
      expect(clear.records.find((r) => r.actor === 'registry' && r.kind === 'event').event.items[0].userId).to.equal('alice@example.com');
    });

    it('attaches the inspection hook only while a client is connected', async () => {
      expect(x.inspect.callCount, 'nothing attached before anyone watches').to.equal(0);
      const s = await open(x.t, '/debug/events');
      await until(() => x.inspector.watching === 1, 'the watcher to register');
      expect(x.inspect.callCount).to.equal(1);
      expect(x.inspector.attached).to.equal(true);
      expect((await x.t.request('GET', '/debug/actors')).body.inspector).to.deep.equal({ attached: true, watchers: 1 });
      const unsubscribe = sinon.spy(x.inspect.firstCall.returnValue as { unsubscribe(): void }, 'unsubscribe');

      s.close();
      await until(() => !x.inspector.attached, 'the hook to be detached');
      expect(unsubscribe.callCount).to.equal(1);
      expect(x.inspector.watching).to.equal(0);

      // With nobody watching, traffic attaches nothing.
      await postImpression(x.t, impression(campaign, 'u9'));
      expect(x.inspect.callCount).to.equal(1);
    });

    it('keeps the hook attached while any client remains', async () => {
      const a = await open(x.t, '/debug/events');
      const b = await open(x.t, '/debug/events');
      await until(() => x.inspector.watching === 2, 'both watchers');
      a.close();
      await until(() => x.inspector.watching === 1, 'one watcher to leave');
      expect(x.inspector.attached).to.equal(true);
      b.close();
      await until(() => !x.inspector.attached, 'the hook to be detached');
      expect(x.inspect.callCount).to.equal(1);
    });

    it(`refuses more than ${MAX_WATCHERS} streams at once with 429`, async () => {
      for (let i = 0; i < MAX_WATCHERS; i++) await open(x.t, '/debug/events?type=none');
      const res = await open(x.t, '/debug/events');
      expect(res.status).to.equal(429);
      expect(res.body).to.deep.include({ code: 429 });
      expect(res.headers['retry-after']).to.equal('5');
    });

    it('rejects an unknown filter or a bad redact value with 400', async () => {
      expectError(await x.t.request('GET', '/debug/events?redact=maybe'), 400, 'redact');
      expectError(await x.t.request('GET', '/debug/events?colour=red'), 400, 'colour');
      expect(x.inspector.watching).to.equal(0);
    });

    it('ends its streams on close() so a shutdown is not held open', async () => {
      const s = await open(x.t, '/debug/events');
      await until(() => x.inspector.watching === 1, 'the watcher');
      x.inspector.close();
      await s.ended;
      expect(x.inspector.attached).to.equal(false);
    });
  });

  describe('with ADMIN_KEY set: the inspector takes an admin key', () => {
    let x: Inspected;
    beforeEach(async () => {
      x = await startInspected(TOKEN);
    });
    afterEach(() => x.t.close());

    for (const path of ['/debug/', '/debug/actors', '/debug/events']) {
      it(`GET ${path} answers 401 with a Bearer challenge without the token, or with a wrong one`, async () => {
        const none = await x.t.request('GET', path);
        expectError(none, 401, 'API key');
        expect(none.headers.get('www-authenticate')).to.equal('Bearer realm="impression-counter"');
        expectError(await x.t.request('GET', path, undefined, { authorization: 'Bearer wrong-token-0123456789' }), 401, 'not valid');
        expectError(await x.t.request('GET', `${path}?token=wrong`), 401, 'not valid');
        expectError(await x.t.request('GET', path, undefined, { authorization: `Basic ${TOKEN}` }), 401);
        expect(x.inspect.callCount, 'a refused stream never attaches').to.equal(0);
      });
    }

    it('accepts the admin key as Authorization: Bearer', async () => {
      const res = await x.t.request('GET', '/debug/actors', undefined, { authorization: `Bearer ${TOKEN}` });
      expect(res.status).to.equal(200);
      expect(res.body.id).to.equal('registry');
    });

    it('accepts the admin key as ?token= (how the page and EventSource pass it)', async () => {
      expect((await x.t.request('GET', `/debug/actors?token=${TOKEN}`)).status).to.equal(200);
      expect((await x.t.request('GET', `/debug/?token=${TOKEN}`)).status).to.equal(200);
      const s = await open(x.t, `/debug/events?token=${TOKEN}`);
      expect(s.status).to.equal(200);
      await until(() => x.inspector.attached, 'the hook to attach');
    });
  });
});
