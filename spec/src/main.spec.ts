import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client, exitWithin, killAll, prng, removeTempDirs, startServer, tempDir, waitFor, type Exit, type LogLine, type ServerProcess } from '../helpers/process.js';
import { readRecords, segments } from '../helpers/storage.js';

/**
 * Process-level durability: the real `src/main.ts` in a child process on a temp DATA_DIR, loaded
 * over loopback keep-alive connections, then killed (SIGKILL), stopped (SIGTERM/SIGINT) and
 * restarted on the same directory.
 */

interface Item {
  campaign_id: string;
  user_id: string;
  ad_id: string;
  impression_id?: string;
}

/** What the clients sent and what the server acknowledged. */
interface Ledger {
  /** Per campaign: every user sent, acknowledged or not (in flight at a crash included). */
  readonly sent: Map<string, Set<string>>;
  /** Per campaign: how many times each user was acknowledged as counted. */
  readonly counted: Map<string, Map<string, number>>;
  acks: number;
  inflight: number;
  networkErrors: number;
  /** Any answer other than 200 with per-item counted flags. */
  readonly unexpected: string[];
  stop: boolean;
}

interface LoadOptions {
  readonly campaigns: readonly string[];
  readonly workers: number;
  readonly requestsPerWorker: number;
  readonly usersPerCampaign: number;
  /** Share of requests that are batches (of 2..maxBatch items), the rest single impressions. */
  readonly batchShare: number;
  readonly maxBatch: number;
  readonly seed: number;
  readonly onAck?: (ledger: Ledger) => void;
}

function newLedger(campaigns: readonly string[]): Ledger {
  return {
    sent: new Map(campaigns.map((c) => [c, new Set<string>()])),
    counted: new Map(campaigns.map((c) => [c, new Map<string, number>()])),
    acks: 0,
    inflight: 0,
    networkErrors: 0,
    unexpected: [],
    stop: false,
  };
}

/** `workers` concurrent request loops; a worker stops at its first network error (server gone). */
function load(client: Client, o: LoadOptions, ledger = newLedger(o.campaigns)): { ledger: Ledger; done: Promise<Ledger> } {
  const random = prng(o.seed);
  const pick = (n: number) => Math.floor(random() * n);
  const worker = async (): Promise<void> => {
    for (let i = 0; i < o.requestsPerWorker && !ledger.stop; i++) {
      const n = random() < o.batchShare ? 2 + pick(o.maxBatch - 1) : 1;
      const items: Item[] = Array.from({ length: n }, () => ({ campaign_id: o.campaigns[pick(o.campaigns.length)], user_id: `u${pick(o.usersPerCampaign)}`, ad_id: 'ad-1' }));
      for (const it of items) ledger.sent.get(it.campaign_id)?.add(it.user_id);
      ledger.inflight++;
      let res;
      try {
        res = await client.request('POST', '/api/v1/impressions', n === 1 ? items[0] : items);
      } catch {
        ledger.networkErrors++;
        return;
      } finally {
        ledger.inflight--;
      }
      const flags: unknown[] = res.status !== 200 ? [] : n === 1 ? [res.body?.counted] : (res.body?.results ?? []).map((r: { counted?: unknown }) => r.counted);
      if (flags.length !== n || flags.some((f) => typeof f !== 'boolean')) {
        ledger.unexpected.push(`${res.status} ${JSON.stringify(res.body)}`);
        continue;
      }
      items.forEach((it, k) => {
        if (flags[k] !== true) return;
        const byUser = ledger.counted.get(it.campaign_id) as Map<string, number>;
        byUser.set(it.user_id, (byUser.get(it.user_id) ?? 0) + 1);
      });
      ledger.acks++;
      o.onAck?.(ledger);
    }
  };
  const done = Promise.all(Array.from({ length: o.workers }, worker)).then(() => ledger);
  return { ledger, done };
}

/** Posts `users` of `campaign` in batches; returns each user's `counted` flag. */
async function resend(client: Client, campaign: string, users: readonly string[], idOf?: (u: string) => string): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < users.length; i += 1000) {
    const chunk = users.slice(i, i + 1000).map((u) => ({ campaign_id: campaign, user_id: u, ad_id: 'ad-1', ...(idOf ? { impression_id: idOf(u) } : {}) }));
    const res = await client.request('POST', '/api/v1/impressions', chunk);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    for (const r of res.body.results as { counted?: boolean }[]) {
      expect(r, 'every item answered').to.have.property('counted');
      out.push(r.counted === true);
    }
  }
  return out;
}

function countedUsers(ledger: Ledger, campaign: string): string[] {
  return [...(ledger.counted.get(campaign) ?? new Map<string, number>()).keys()];
}

function acknowledgedTotal(ledger: Ledger, campaigns: readonly string[]): number {
  return campaigns.reduce((n, c) => n + countedUsers(ledger, c).length, 0);
}

/** The JSON log lines of a server, for assertion messages. */
function logsOf(server: ServerProcess): string {
  return [...server.logs.slice(-15).map((l) => JSON.stringify(l)), ...server.noise.slice(-10)].join('\n');
}

describe('main (process level)', function () {
  this.timeout(60_000);
  const clients: Client[] = [];

  function clientOf(server: ServerProcess, sockets = 100): Client {
    const client = new Client(server.baseUrl, sockets);
    clients.push(client);
    return client;
  }

  async function campaignsOn(client: Client, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await client.createCampaign(`campaign ${i}`));
    return ids;
  }

  const recovered = (server: ServerProcess) => server.waitForLog((l) => l.msg === 'recovered state from disk', 1000);

  async function cleanUp(): Promise<void> {
    for (const c of clients.splice(0)) c.close();
    await killAll();
    await removeTempDirs();
  }

  describe('kill -9 under concurrent load (DURABILITY=fsync, snapshots every second)', () => {
    let campaigns: string[];
    let ledger: Ledger;
    let first: ServerProcess;
    let second: ServerProcess;
    let restarted: Client;
    let inflightAtKill = -1;
    let firstExit: Exit;
    let snapshotsBeforeKill = 0;
    let report: LogLine;
    /** Totals read right after the restart, before any resend. */
    const totals = new Map<string, number>();
    /** An idempotent campaign: impressions with impression_id, and what each was first answered. */
    let idem: { campaign: string; items: Item[]; outcomes: boolean[] };

    before(async () => {
      const dataDir = join(await tempDir(), 'data');
      const env = { DURABILITY: 'fsync', SNAPSHOT_INTERVAL: '1s' };
      first = await startServer({ dataDir, env });
      const client = clientOf(first);
      campaigns = await campaignsOn(client, 3);

      const idemCampaign = await client.createCampaign('idempotent');
      const items = Array.from({ length: 200 }, (_, i) => ({ campaign_id: idemCampaign, user_id: `u${i % 150}`, ad_id: 'ad-1', impression_id: `imp-${i}` }));
      const answers = await Promise.all(items.map((it) => client.request('POST', '/api/v1/impressions', it)));
      idem = { campaign: idemCampaign, items, outcomes: answers.map((r) => r.body?.counted) };

      const started = performance.now();
      const run = load(client, {
        campaigns,
        workers: 100,
        requestsPerWorker: Infinity,
        usersPerCampaign: 200_000,
        batchShare: 0.3,
        maxBatch: 25,
        seed: 20260115,
        onAck: (l) => {
          if (inflightAtKill >= 0) return;
          const snapshotted = first.logs.some((line) => line.msg === 'snapshot written');
          if (!((l.acks >= 2000 && snapshotted) || performance.now() - started > 8000)) return;
          inflightAtKill = l.inflight;
          snapshotsBeforeKill = first.logs.filter((line) => line.msg === 'snapshot written').length;
          first.child.kill('SIGKILL');
        },
      });
      ledger = await run.done;
      firstExit = await exitWithin(first, 5000);

      second = await startServer({ dataDir, env });
      report = await recovered(second);
      restarted = clientOf(second);
      for (const c of campaigns) totals.set(c, (await restarted.stats(c)).total);
    });
    after(cleanUp);

    it('was killed by SIGKILL while requests were in flight, having answered every request before it 200', () => {
      expect(firstExit, logsOf(first)).to.include({ signal: 'SIGKILL' });
      expect(inflightAtKill, 'requests in flight at the kill').to.be.above(0);
      expect(ledger.networkErrors, 'requests cut off by the kill').to.be.above(0);
      expect(ledger.unexpected, 'answers other than 200').to.deep.equal([]);
      expect(ledger.acks).to.be.at.least(2000);
    });

    it('completed periodic snapshots under load, and recovered from the last one plus the journal after it', () => {
      expect(snapshotsBeforeKill, 'snapshots written while the load ran').to.be.at.least(1);
      expect(first.logs.filter((l) => l.msg === 'snapshot failed' || l.level >= 50), 'errors logged before the kill').to.deep.equal([]);
      expect(report.snapshot, JSON.stringify(report)).to.be.a('string');
      expect(report.campaigns).to.equal(4);
      expect(report.records, 'journal records replayed after the snapshot').to.be.above(0);
    });

    it('never acknowledged the same user as counted twice', () => {
      for (const c of campaigns) {
        const twice = [...(ledger.counted.get(c) ?? [])].filter(([, n]) => n > 1);
        expect(twice, `users acknowledged as counted twice in ${c}`).to.deep.equal([]);
      }
    });

    it('has every impression acknowledged as counted in total after the restart, and no more than the users sent', () => {
      for (const c of campaigns) {
        const acked = countedUsers(ledger, c).length;
        const sent = ledger.sent.get(c)?.size ?? 0;
        // Users are drawn from a pool large enough that some sent at the kill were never acknowledged.
        expect(acked, 'some users sent were never acknowledged (in flight at the kill)').to.be.below(sent);
        expect(totals.get(c), `${c}: total after restart vs acknowledged counted`).to.be.at.least(acked);
        expect(totals.get(c), `${c}: total after restart vs distinct users sent`).to.be.at.most(sent);
      }
    });

    it('still answers every user counted before the crash as a duplicate', async () => {
      for (const c of campaigns) {
        const again = await resend(restarted, c, countedUsers(ledger, c));
        expect(again.filter(Boolean).length, `${c}: acknowledged users counted again after the crash`).to.equal(0);
      }
    });

    it('counts each user sent exactly once overall: resending all of them brings total to the distinct users sent', async () => {
      for (const c of campaigns) {
        const all = [...(ledger.sent.get(c) ?? [])];
        const newly = (await resend(restarted, c, all)).filter(Boolean).length;
        expect((totals.get(c) ?? 0) + newly, c).to.equal(all.length);
        expect((await restarted.stats(c)).total, c).to.equal(all.length);
      }
    });

    it('answers impression_id retries with their original outcome and never counts them twice', async () => {
      expect(idem.outcomes.every((o) => typeof o === 'boolean')).to.equal(true);
      const counted = idem.outcomes.filter(Boolean).length;
      expect(counted).to.equal(150);
      const res = await restarted.request('POST', '/api/v1/impressions', idem.items);
      expect(res.body.results.map((r: { counted: boolean }) => r.counted)).to.deep.equal(idem.outcomes);
      expect((await restarted.stats(idem.campaign)).total).to.equal(counted);
    });
  });

  describe('SIGTERM under load', () => {
    let dataDir: string;
    let campaigns: string[];
    let ledger: Ledger;
    let first: ServerProcess;
    let second: ServerProcess;
    let exit: Exit & { ms: number };
    let report: LogLine;

    before(async () => {
      dataDir = join(await tempDir(), 'data');
      first = await startServer({ dataDir });
      const client = clientOf(first, 50);
      campaigns = await campaignsOn(client, 2);
      let exiting: Promise<Exit & { ms: number }> | undefined;
      const run = load(client, {
        campaigns,
        workers: 50,
        requestsPerWorker: Infinity,
        usersPerCampaign: 2000,
        batchShare: 0.3,
        maxBatch: 20,
        seed: 99,
        onAck: (l) => {
          if (exiting !== undefined || l.acks < 600) return;
          first.child.kill('SIGTERM');
          exiting = exitWithin(first, 15_000);
        },
      });
      ledger = await run.done;
      if (exiting === undefined) throw new Error('the load ended before SIGTERM was sent');
      exit = await exiting;
      second = await startServer({ dataDir });
      report = await recovered(second);
    });
    after(cleanUp);

    it('exits 0 within 10 s, logging a clean stop', () => {
      expect(exit, logsOf(first)).to.include({ code: 0, signal: null });
      expect(exit.ms).to.be.below(10_000);
      expect(first.logs.some((l) => l.msg === 'stopped')).to.equal(true);
    });

    it('answers the requests it accepted while draining (no error answers)', () => {
      expect(ledger.unexpected).to.deep.equal([]);
      expect(ledger.acks).to.be.at.least(600);
    });

    it('leaves a final snapshot with nothing after it to replay', () => {
      expect(report.snapshot).to.be.a('string');
      expect(report.records).to.equal(0);
      expect(report.torn).to.deep.equal([]);
      expect(report.missing).to.equal(0);
    });

    it('restarts with the same totals: exactly the acknowledged counts, each still a duplicate', async () => {
      const client = clientOf(second);
      for (const c of campaigns) {
        const acked = countedUsers(ledger, c);
        expect((await client.stats(c)).total, `${c}: every acknowledged count, and nothing else`).to.equal(acked.length);
        expect((await resend(client, c, acked)).filter(Boolean)).to.deep.equal([]);
      }
    });

    it('SIGINT when idle: exits 0 and the next start answers the same stats', async () => {
      const client = clientOf(second);
      const before = await Promise.all(campaigns.map((c) => client.stats(c)));
      expect(before.reduce((n, s) => n + s.total, 0)).to.equal(acknowledgedTotal(ledger, campaigns));
      second.child.kill('SIGINT');
      expect(await exitWithin(second, 10_000)).to.include({ code: 0, signal: null });
      const third = await startServer({ dataDir });
      const again = clientOf(third);
      expect(await Promise.all(campaigns.map((c) => again.stats(c)))).to.deep.equal(before);
    });
  });

  describe('durability modes', () => {
    afterEach(cleanUp);

    it('DURABILITY=interval answers without waiting for fsync, writes at once, and survives a kill -9 once written', async () => {
      const dataDir = join(await tempDir(), 'data');
      const first = await startServer({ dataDir, env: { DURABILITY: 'interval' } });
      expect((await first.waitForLog((l) => l.msg.startsWith('listening on'))).durability).to.equal('interval');
      const client = clientOf(first, 30);
      const campaigns = await campaignsOn(client, 2);
      const ledger = await load(client, { campaigns, workers: 30, requestsPerWorker: 30, usersPerCampaign: 500, batchShare: 0.3, maxBatch: 10, seed: 3 }).done;
      expect(ledger.unexpected).to.deep.equal([]);
      const acked = acknowledgedTotal(ledger, campaigns);
      const countedOnDisk = async () => {
        let n = 0;
        for (const name of await segments(dataDir)) for (const r of (await readRecords(join(dataDir, name))).records) if (r.type === 2) n += r.count;
        return n;
      };
      await waitFor(async () => (await countedOnDisk()) === acked, 3000, 'the journal to hold every acknowledged count');
      first.child.kill('SIGKILL');
      await exitWithin(first, 5000);

      const second = await startServer({ dataDir, env: { DURABILITY: 'interval' } });
      const restarted = clientOf(second);
      for (const c of campaigns) expect((await restarted.stats(c)).total).to.equal(countedUsers(ledger, c).length);
    });

    it('DURABILITY=off keeps everything in memory: DATA_DIR is never created', async () => {
      const dataDir = join(await tempDir(), 'data');
      const server = await startServer({ dataDir, env: { DURABILITY: 'off' } });
      expect(server.logs.some((l) => l.msg === 'recovered state from disk')).to.equal(false);
      const client = clientOf(server);
      const [c] = await campaignsOn(client, 1);
      expect((await resend(client, c, ['a', 'b', 'c', 'a'])).filter(Boolean)).to.have.length(3);
      expect((await client.stats(c)).total).to.equal(3);
      client.close();
      server.child.kill('SIGTERM');
      expect(await exitWithin(server, 10_000)).to.include({ code: 0 });
      expect(existsSync(dataDir), 'DATA_DIR was never created').to.equal(false);
    });
  });

  describe('dead letters', () => {
    after(cleanUp);

    it('an impression that crashes its campaign twice goes to DATA_DIR/dead-letters.jsonl, is answered 422, and others keep counting', async () => {
      const dataDir = join(await tempDir(), 'data');
      const server = await startServer({ dataDir, env: { POISON_USER: 'poison' }, preload: ['spec/helpers/poison-preload.ts'] });
      const client = clientOf(server);
      const [c] = await campaignsOn(client, 1);
      const poison = { campaign_id: c, user_id: 'poison', ad_id: 'ad-1' };
      expect((await client.request('POST', '/api/v1/impressions', poison)).status).to.equal(503);
      expect((await client.request('POST', '/api/v1/impressions', poison)).status).to.equal(503);
      const third = await client.request('POST', '/api/v1/impressions', poison);
      expect(third.status).to.equal(422);
      expect(third.body).to.have.keys('error', 'code');

      const path = join(dataDir, 'dead-letters.jsonl');
      // The line is appended asynchronously: wait until it is whole, not merely until the file exists.
      await waitFor(() => existsSync(path) && readFileSync(path, 'utf8').endsWith('\n'), 3000, 'the dead-letter log');
      const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).to.have.length(1);
      expect(lines[0]).to.deep.include({ campaign_id: c });
      expect(lines[0].impression).to.deep.include({ campaignId: c, userId: 'poison', adId: 'ad-1' });
      expect(lines[0].error).to.include('poison impression');
      expect(server.logs.filter((l) => l.msg === 'campaign actor crashed')).to.have.length(2);

      expect((await resend(client, c, ['a', 'b', 'poison-free'])).every(Boolean)).to.equal(true);
      expect((await client.stats(c)).total).to.equal(3);
      expect(server.child.exitCode).to.equal(null);
    });
  });

  describe('slow and many clients (MAX_CONNECTIONS, HEADERS_TIMEOUT, REQUEST_TIMEOUT from the environment)', () => {
    after(cleanUp);

    /** A raw connection: what it received, and whether the server closed it. */
    function raw(server: ServerProcess): Promise<{ socket: Socket; text: () => string; closed: () => boolean }> {
      return new Promise((resolve, reject) => {
        let text = '';
        let closed = false;
        const socket = connect({ port: server.port, host: '127.0.0.1' }, () => resolve({ socket, text: () => text, closed: () => closed }));
        socket.setEncoding('utf8').on('data', (d: string) => (text += d));
        socket.on('close', () => (closed = true));
        socket.once('error', reject);
      });
    }

    const answer = (text: string) => ({ status: Number(text.slice(9, 12)), body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: string; code: number } });

    it('answers a connection over the cap 503, and closes slow headers and slow bodies with 408, all as JSON', async () => {
      const server = await startServer({ dataDir: await tempDir(), env: { DURABILITY: 'off', MAX_CONNECTIONS: '2', HEADERS_TIMEOUT: '1s', REQUEST_TIMEOUT: '2s' } });
      const slowBody = await raw(server);
      slowBody.socket.write('POST /api/v1/impressions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      const slowHeaders = await raw(server);
      slowHeaders.socket.write('GET /healthz HTTP/1.1\r\n');
      const extra = await raw(server);
      await waitFor(extra.closed, 3000, 'the connection over the cap to be closed');
      expect(answer(extra.text())).to.deep.include({ status: 503 });
      expect(answer(extra.text()).body.error).to.include('MAX_CONNECTIONS');

      await waitFor(slowHeaders.closed, 5000, 'slow headers to be closed');
      expect(answer(slowHeaders.text()).body).to.include({ code: 408 });
      await waitFor(slowBody.closed, 6000, 'a slow body to be closed');
      expect(answer(slowBody.text()).body).to.include({ code: 408 });
      expect(answer(slowBody.text()).body.error).to.include('REQUEST_TIMEOUT');
      server.child.kill('SIGTERM');
      expect(await exitWithin(server, 10_000)).to.include({ code: 0 });
    });
  });
});
