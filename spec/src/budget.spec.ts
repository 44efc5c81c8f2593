import { expect } from 'chai';
import sinon from 'sinon';
import { StateBudget } from '../../actors/counting/budget.js';
import { OVER_BUDGET_REASON, watchBudget } from '../../src/budget.js';
import { Readiness } from '../../src/health.js';
import type { Logger } from '../../src/log.js';

describe('watchBudget (src/budget.ts)', () => {
  let clock: sinon.SinonFakeTimers;
  let logger: { warn: sinon.SinonSpy; info: sinon.SinonSpy };
  let stop: () => void;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    logger = { warn: sinon.spy(), info: sinon.spy() };
  });
  afterEach(() => {
    stop();
    clock.restore();
  });

  it('turns /readyz unready and warns once at the budget, and back when state shrinks below it', () => {
    const budget = new StateBudget({ maxBytes: 1000, maxCampaigns: 10 });
    const readiness = new Readiness();
    budget.change(999);
    stop = watchBudget(budget, readiness, logger as unknown as Logger, 1000);
    clock.tick(1000);
    expect(readiness.isReady).to.equal(true);
    budget.change(1);
    clock.tick(999);
    expect(readiness.isReady, 'reported at the next check, not before').to.equal(true);
    clock.tick(1);
    expect(readiness.state).to.deep.equal({ ready: false, reason: OVER_BUDGET_REASON });
    clock.tick(5000);
    expect(logger.warn.callCount).to.equal(1);
    expect(logger.warn.firstCall.args[0]).to.deep.include({ state_bytes: 1000, memory_budget: 1000 });
    budget.change(-1);
    clock.tick(1000);
    expect(readiness.isReady).to.equal(true);
    expect(logger.info.callCount).to.equal(1);
  });

  it('never takes over another unready reason (draining), nor clears it', () => {
    const budget = new StateBudget({ maxBytes: 10, maxCampaigns: 10 });
    const readiness = new Readiness();
    stop = watchBudget(budget, readiness, logger as unknown as Logger, 1000);
    readiness.unready('draining');
    budget.change(10);
    clock.tick(1000);
    expect(readiness.state).to.deep.equal({ ready: false, reason: 'draining' });
    budget.change(-10);
    clock.tick(1000);
    expect(readiness.state).to.deep.equal({ ready: false, reason: 'draining' });
  });

  it('warns once when MAX_CAMPAIGNS is reached, not one campaign before', () => {
    const budget = new StateBudget({ maxBytes: 1 << 30, maxCampaigns: 2 });
    stop = watchBudget(budget, new Readiness(), logger as unknown as Logger, 1000);
    budget.campaignAdded();
    clock.tick(1000);
    expect(logger.warn.callCount).to.equal(0);
    budget.campaignAdded();
    clock.tick(3000);
    expect(logger.warn.callCount).to.equal(1);
    expect(logger.warn.firstCall.args[1]).to.include('MAX_CAMPAIGNS');
  });
});
