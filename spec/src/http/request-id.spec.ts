import { expect } from 'chai';
import { useTestApp } from '../../helpers/app.js';
import { API } from '../../helpers/http.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids (X-Request-Id)', () => {
  const t = useTestApp({}, 'suite');

  it('makes a new one when none is sent, different per request', async () => {
    const a = (await t.request('GET', '/healthz')).headers.get('x-request-id');
    const b = (await t.request('GET', '/healthz')).headers.get('x-request-id');
    expect(a).to.match(UUID);
    expect(b).to.match(UUID);
    expect(a).not.to.equal(b);
  });

  it("keeps a caller's sane id (ids, UUIDs, trace ids)", async () => {
    for (const id of ['abc-123', '4bf92f3577b34da6a3ce929d0e0e4736', 'edge:01.eu_west', 'x'.repeat(128)]) {
      expect((await t.request('GET', '/healthz', undefined, { 'x-request-id': id })).headers.get('x-request-id')).to.equal(id);
    }
  });

  it('replaces an id that is too long or could forge a log line', async () => {
    for (const id of ['x'.repeat(129), 'a b', 'a"b', 'a\tb', '<script>']) {
      const echoed = (await t.request('GET', '/healthz', undefined, { 'x-request-id': id })).headers.get('x-request-id');
      expect(echoed, JSON.stringify(id)).to.match(UUID);
    }
  });

  it('is on error answers too', async () => {
    const res = await t.request('GET', `${API}/campaigns/missing`, undefined, { 'x-request-id': 'lost-1' });
    expect(res.status).to.equal(404);
    expect(res.headers.get('x-request-id')).to.equal('lost-1');
  });
});
