import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'chai';
import sinon from 'sinon';
import { clientErrorAnswer, createHttpServer, REFUSED_LINGER_MS, type ConnectionLoad, type ServerLimits } from '../../../src/http/server.js';

const LIMITS: ServerLimits = { requestTimeoutMs: 60_000, headersTimeoutMs: 60_000, maxConnections: 100 };

/** A raw TCP client: what it wrote, what it received, and whether the server closed it. */
interface Raw {
  readonly socket: Socket;
  received(): string;
  closed(): boolean;
}

function open(server: Server, options: { allowHalfOpen?: boolean } = {}): Promise<Raw> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    let text = '';
    let closed = false;
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false }, () =>
      resolve({ socket, received: () => text, closed: () => closed }),
    );
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {}); // a reset after the answer is part of some cases
    socket.once('error', reject);
  });
}

// Kept before any test fakes the timers: the waits below run on real time.
const realSetTimeout = globalThis.setTimeout;

/** Waits until `ok()` holds, checking every 5 ms, for at most `withinMs`. */
async function until(ok: () => boolean, withinMs: number, what: string): Promise<void> {
  const end = Date.now() + withinMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => realSetTimeout(r, 5));
  }
}

/** Status and JSON body of the one HTTP response in `text`. */
function parse(text: string): { status: number; headers: string; body: any } {
  const [head, body] = text.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head, body: JSON.parse(body) };
}

/** Sockets the server holds open (a half-open refused one included). */
function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

function expectJsonError(text: string, status: number, ...mentions: string[]): void {
  const r = parse(text);
  expect(r.status, text).to.equal(status);
  expect(r.headers, text).to.match(/content-type: application\/json/i);
  expect(r.body).to.have.keys('error', 'code');
  expect(r.body.code).to.equal(status);
  for (const m of mentions) expect(r.body.error).to.include(m);
}

describe('http server bounds', () => {
  let server: Server;
  const clients: Socket[] = [];

  let load: ConnectionLoad;

  async function start(limits: Partial<ServerLimits> = {}): Promise<Server> {
    load = { open: 0, refused: 0 };
    // Reads the whole body before answering, as the app does.
    server = createHttpServer((req, res) => req.resume().on('end', () => res.end('{"ok":true}')), { ...LIMITS, ...limits }, undefined, load);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return server;
  }

  async function client(options?: { allowHalfOpen?: boolean }): Promise<Raw> {
    const raw = await open(server, options);
    clients.push(raw.socket);
    return raw;
  }

  afterEach(async () => {
    sinon.restore();
    for (const s of clients.splice(0)) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  describe('protocol errors answer in the JSON error shape', () => {
    beforeEach(() => start());

    it('a malformed Content-Length → 400', async () => {
      const c = await client();
      c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
      await until(c.closed, 2000, 'the connection to close');
      expectJsonError(c.received(), 400, 'Content-Length');
    });

    it('malformed chunking → 400', async () => {
      const c = await client();
      c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
      await until(c.closed, 2000, 'the connection to close');
      expectJsonError(c.received(), 400, 'chunked');
    });

    it('headers over 16 KiB → 431; just under is served', async () => {
      const over = await client();
      over.socket.write(`GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: ${'a'.repeat(17_000)}\r\n\r\n`);
      await until(over.closed, 2000, 'the connection to close');
      expectJsonError(over.received(), 431, 'headers are too large');

      const under = await client();
      under.socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: ${'a'.repeat(16_000)}\r\n\r\n`);
      await until(under.closed, 2000, 'the connection to close');
      expect(parse(under.received()).status).to.equal(200);
    });

    it('a garbled request line → 400', async () => {
      const c = await client();
      c.socket.write('HELLO\r\n\r\n');
      await until(c.closed, 2000, 'the connection to close');
      expectJsonError(c.received(), 400, 'malformed HTTP request');
    });
  });

  describe('timeouts (Node measures them on its own clock, so these run on short real ones)', () => {
    const cases: [string, Partial<ServerLimits>, string, (received: string) => void][] = [
      ['headers that do not arrive within HEADERS_TIMEOUT → 408 and the connection closed', { requestTimeoutMs: 10_000 }, 'POST / HTTP/1.1\r\nHost: x\r\n', (r) => expectJsonError(r, 408, 'HEADERS_TIMEOUT')],
      ['a body that does not arrive within REQUEST_TIMEOUT → 408 and the connection closed', { requestTimeoutMs: 300 }, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', (r) => expectJsonError(r, 408, 'REQUEST_TIMEOUT')],
      ['a request that arrives in time is served', { requestTimeoutMs: 300 }, 'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789', (r) => expect(parse(r).status).to.equal(200)],
    ];
    for (const [name, limits, request, check] of cases) {
      it(name, async () => {
        await start({ headersTimeoutMs: 150, ...limits });
        const c = await client();
        c.socket.write(request);
        await until(c.closed, 3000, 'the connection to close');
        check(c.received());
      });
    }
  });

  describe('MAX_CONNECTIONS', () => {
    it('serves up to the cap, answers one more 503 with Retry-After, and serves again once one closes', async () => {
      await start({ maxConnections: 2 });
      const a = await client();
      const b = await client();
      const c = await client();
      await until(c.closed, 2000, 'the refused connection to close');
      expectJsonError(c.received(), 503, 'MAX_CONNECTIONS');
      expect(parse(c.received()).headers).to.match(/retry-after: 1/i);
      expect(load, 'what /metrics reads').to.deep.equal({ open: 2, refused: 1 });

      b.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => b.received().includes('{"ok":true}'), 2000, 'an answer within the cap');
      expect(a.closed()).to.equal(false);

      a.socket.destroy();
      // The server sees the close a moment after this side does: retry a few times.
      let d: Raw | undefined;
      for (let tries = 0; tries < 50; tries++) {
        d = await client();
        d.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        await until(d.closed, 2000, 'the connection to close');
        if (parse(d.received()).status === 200) break;
      }
      expect(parse(d!.received()).status).to.equal(200);
    });

    it('destroys a refused connection its client keeps open after REFUSED_LINGER_MS, not before', async () => {
      await start({ maxConnections: 1 });
      await client();
      const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const refused = await client({ allowHalfOpen: true });
      await until(() => refused.received().includes('"code":503'), 2000, 'the 503');
      await clock.tickAsync(REFUSED_LINGER_MS - 1);
      expect(await connections(server)).to.equal(2);
      await clock.tickAsync(1);
      expect(await connections(server)).to.equal(1);
    });
  });

  it('MAX_CONNECTIONS: drops further connections unanswered while as many refused ones as the cap still linger', async () => {
    await start({ maxConnections: 1 });
    await client();
    const lingering = await client({ allowHalfOpen: true });
    await until(() => lingering.received().includes('"code":503'), 2000, 'the 503');
    const dropped = await client();
    await until(dropped.closed, 2000, 'the extra connection to be dropped');
    expect(dropped.received()).to.equal('');
    expect(lingering.closed()).to.equal(false);
    expect(load.refused, 'a dropped connection is a refusal too').to.equal(2);
  });

  describe('clientErrorAnswer', () => {
    const limits = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000 };
    const answer = (code: string) => clientErrorAnswer(Object.assign(new Error(code), { code }), limits);

    it('maps Node parser and timeout errors to statuses', () => {
      expect(answer('ERR_HTTP_REQUEST_TIMEOUT')?.status).to.equal(408);
      expect(answer('HPE_HEADER_OVERFLOW')?.status).to.equal(431);
      expect(answer('HPE_CHUNK_EXTENSIONS_OVERFLOW')?.status).to.equal(413);
      expect(answer('HPE_INVALID_CONTENT_LENGTH')?.status).to.equal(400);
      expect(answer('HPE_INVALID_CHUNK_SIZE')?.status).to.equal(400);
      expect(answer('HPE_INVALID_METHOD')?.message).to.equal('malformed HTTP request (invalid method)');
    });

    it('answers nobody whose connection is already gone', () => {
      expect(answer('ECONNRESET')).to.equal(undefined);
      expect(answer('EPIPE')).to.equal(undefined);
    });

    it('says both timeouts in the 408', () => {
      expect(answer('ERR_HTTP_REQUEST_TIMEOUT')?.message).to.include('10000 ms (HEADERS_TIMEOUT)').and.include('30000 ms (REQUEST_TIMEOUT)');
    });
  });
});
