import { expect } from 'chai';
import sinon from 'sinon';
import { CircuitBreaker, StoreUnavailableError } from '../../../src/storage/breaker.js';

describe('storage/breaker', () => {
  let breaker: CircuitBreaker;
  let probeOk: boolean;
  let probes: number;
  let changes: boolean[];
  let clock: sinon.SinonFakeTimers;

  beforeEach(() => {
    // Only the breaker's own timers are faked: probes resolve as promises, which tickAsync lets run.
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    probeOk = false;
    probes = 0;
    changes = [];
    breaker = new CircuitBreaker({
      store: 'test store',
      threshold: 3,
      openMs: 20,
      probe: async () => {
        probes++;
        if (!probeOk) throw new Error('still down');
      },
      onChange: (open) => changes.push(open),
    });
  });
  afterEach(() => {
    breaker.stop();
    clock.restore();
  });

  const fail = (): Promise<never> => Promise.reject(new Error('boom'));

  it('passes calls through while closed and turns a failure into a 503 naming the store', async () => {
    expect(await breaker.run(async () => 42)).to.equal(42);
    const err = await breaker.run(fail).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StoreUnavailableError);
    expect(err).to.include({ status: 503, message: 'the test store is unavailable; retry shortly' });
    expect((err as StoreUnavailableError).headers).to.deep.equal({ 'Retry-After': '1' });
    expect((err as Error).cause).to.be.instanceOf(Error);
  });

  it('opens after `threshold` consecutive failures (a success in between resets the count)', async () => {
    await breaker.run(fail).catch(() => undefined);
    await breaker.run(fail).catch(() => undefined);
    await breaker.run(async () => 'ok');
    await breaker.run(fail).catch(() => undefined);
    await breaker.run(fail).catch(() => undefined);
    expect(breaker.isOpen).to.equal(false);
    await breaker.run(fail).catch(() => undefined);
    expect(breaker.isOpen).to.equal(true);
    expect(changes).to.deep.equal([true]);
  });

  it('refuses calls at once while open, without running them', async () => {
    breaker.open();
    let ran = false;
    const err = await breaker
      .run(async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StoreUnavailableError);
    expect(ran).to.equal(false);
  });

  it('probes on its own every openMs while open and closes on the first probe that succeeds', async () => {
    breaker.open();
    await clock.tickAsync(19);
    expect(probes, 'no probe before openMs').to.equal(0);
    await clock.tickAsync(1);
    expect(probes, 'the first probe at openMs').to.equal(1);
    await clock.tickAsync(19);
    expect(probes).to.equal(1);
    await clock.tickAsync(1);
    expect(probes, 'the next one openMs after a failed probe').to.equal(2);
    expect(breaker.isOpen).to.equal(true);
    expect(await breaker.run(async () => 'refused').catch((e: unknown) => e)).to.be.instanceOf(StoreUnavailableError);
    probeOk = true;
    await clock.tickAsync(20);
    expect(probes).to.equal(3);
    expect(breaker.isOpen).to.equal(false);
    expect(changes).to.deep.equal([true, false]);
    expect(await breaker.run(async () => 'back')).to.equal('back');
    await clock.tickAsync(100);
    expect(probes, 'no probing once closed').to.equal(3);
  });

  it('stops probing when stopped', async () => {
    breaker.open();
    await clock.tickAsync(20);
    expect(probes).to.equal(1);
    breaker.stop();
    await clock.tickAsync(100);
    expect(probes).to.equal(1);
    expect(clock.countTimers(), 'no timer left behind').to.equal(0);
  });
});
