import { expect } from 'chai';
import sinon from 'sinon';
import { DEFAULT_ANALYTICS_CONFIG } from '../../src/use-cases/analytics.js';
import { Zone } from '../../src/calendar.js';
import { ValidationError } from '../../src/errors.js';
import { MAX_BUCKETS, planSeries } from '../../src/series.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 2, 10, 10);

describe('planSeries', () => {
  it('plans a span of days as its days, a short DST day adding at most one', () => {
    const berlin = Zone.of('Europe/Berlin') as Zone;
    const from = Date.UTC(2026, 2, 1) - 3_600_000; // local midnight, 1 March
    const plan = planSeries('day', from, from + 40 * DAY, berlin, NOW, DEFAULT_ANALYTICS_CONFIG);
    expect(plan.shown).to.have.length(41); // 29 March has 23 hours: the span ends at 01:00 on 10 April
  });

  it('stops a calendar that never reaches the end of the span after its buckets and two more, whatever MAX_BUCKETS allows', () => {
    const stuck = Zone.of('UTC') as Zone;
    const nextDay = sinon.stub(stuck, 'nextDay').callsFake((s: number) => s + 1); // a day that never ends
    const from = Date.UTC(2026, 0, 1);
    expect(() => planSeries('day', from, from + 40 * DAY, stuck, NOW, DEFAULT_ANALYTICS_CONFIG)).to.throw(ValidationError, `more than ${MAX_BUCKETS} day buckets`);
    expect(nextDay.callCount).to.equal(43); // 42 buckets planned, the 43rd refused
  });
});
