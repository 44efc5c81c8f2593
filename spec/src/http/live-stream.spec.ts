import { EventEmitter } from 'node:events';
import type { Context } from 'koa';
import { expect } from 'chai';
import sinon from 'sinon';
import type { Counter } from '../../../src/counter.js';
import { LIVE_PERIOD_MS, LiveFigures } from '../../../src/http/live.js';

/** A response that records what is written to it, with a backlog the spec sets. */
class FakeResponse extends EventEmitter {
  readonly frames: string[] = [];
  writableLength = 0;
  destroyed = false;
  flushHeaders(): void {}
  write(chunk: string): boolean {
    this.frames.push(chunk);
    return true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('live figures: one stream over time (src/http/live.ts)', () => {
  let clock: sinon.SinonFakeTimers;
  let total: number;
  let live: LiveFigures;
  let res: FakeResponse;

  beforeEach(async () => {
    clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    total = 0;
    const figures = { counted: 0, duplicates: 0, botImpressions: 0, clicks: 0, duplicateClicks: 0, botClicks: 0, playbackCount: 0, playbackSeconds: 0, uniqueUsers: 0 };
    const counter = {
      campaigns: { stats: () => Promise.resolve({ total, lastHour: total, lastDay: total }) },
      analytics: { report: () => Promise.resolve({ campaign: figures }) },
    } as unknown as Counter;
    live = new LiveFigures(counter);
    res = new FakeResponse();
    const ctx = { params: { id: 'c1' }, set() {}, res, req: { socket: { setNoDelay() {} } } } as unknown as Context;
    await live.handle(ctx);
    expect(res.frames, 'the first figures at once').to.have.length(1);
  });
  afterEach(() => {
    live.close();
    clock.restore();
  });

  it('sends a keepalive comment after 15 periods without a change, not one period sooner', async () => {
    await clock.tickAsync(14 * LIVE_PERIOD_MS);
    expect(res.frames, 'nothing while nothing changed').to.have.length(1);
    await clock.tickAsync(LIVE_PERIOD_MS);
    expect(res.frames.slice(1)).to.deep.equal([': keepalive\n\n']);
  });

  it('cuts a client more than 64 KiB behind, and still writes to one exactly 64 KiB behind', async () => {
    res.writableLength = 64 * 1024;
    total = 1;
    await clock.tickAsync(LIVE_PERIOD_MS);
    expect(res.destroyed).to.equal(false);
    expect(res.frames.at(-1)).to.match(/^data: .*"total":1/);
    res.writableLength = 64 * 1024 + 1;
    total = 2;
    await clock.tickAsync(LIVE_PERIOD_MS);
    expect(res.destroyed, 'a client that does not read is cut').to.equal(true);
    expect(res.frames).to.have.length(2);
    expect(live.watching, 'and its campaign is no longer read').to.equal(0);
  });
});
