import { expect } from 'chai';
import { Readiness } from '../../src/health.js';

describe('Readiness', () => {
  it('starts ready when no reason is given', () => {
    const r = new Readiness();
    expect(r.isReady).to.equal(true);
    expect(r.state).to.deep.equal({ ready: true });
  });

  it('starts unready with a reason when one is given', () => {
    const r = new Readiness('starting');
    expect(r.isReady).to.equal(false);
    expect(r.state).to.deep.equal({ ready: false, reason: 'starting' });
  });

  it('goes unready with the latest reason and back to ready', () => {
    const r = new Readiness();
    r.unready('recovering');
    r.unready('draining');
    expect(r.state).to.deep.equal({ ready: false, reason: 'draining' });
    r.ready();
    expect(r.isReady).to.equal(true);
  });
});
