import { expect } from 'chai';
import sinon from 'sinon';
import { createActor, type ActorLogic, type Snapshot } from 'xstate';
import { ask, AskTimeoutError } from '../../actors/ask.js';
import type { Reply } from '../../actors/protocol.js';

type TestEvent = { type: 'echo'; value: number; reply: Reply<number> } | { type: 'hold'; reply: Reply<number> } | { type: 'twice'; reply: Reply<number> };

/**
 * A minimal actor: `echo` replies at once, `twice` replies twice, `hold` keeps the reply callback in
 * `held` for the test to call later (or never).
 */
function testActor(held: Reply<number>[]) {
  const logic: ActorLogic<Snapshot<undefined>, TestEvent> = {
    getInitialSnapshot: () => ({ status: 'active', output: undefined, error: undefined }),
    transition(snapshot, event) {
      if (event.type === 'echo') event.reply(event.value);
      else if (event.type === 'twice') {
        event.reply(1);
        event.reply(2);
      } else if (event.type === 'hold') held.push(event.reply);
      return snapshot;
    },
    getPersistedSnapshot: (snapshot) => snapshot,
  };
  const actor = createActor(logic);
  actor.subscribe({ error: () => {} });
  return actor.start();
}

/** Settles `promise` into a readable state without awaiting it. */
function track<T>(promise: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => Object.assign(t, { state: 'resolved', value }),
    (error: unknown) => Object.assign(t, { state: 'rejected', error }),
  );
  return t;
}

describe('ask', () => {
  const TIMEOUT_MS = 1_000;
  let clock: sinon.SinonFakeTimers;
  let held: Reply<number>[];

  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    held = [];
  });

  afterEach(() => {
    clock.restore();
    sinon.restore();
  });

  it('resolves with a synchronous reply without arming a timer', async () => {
    // Arrange
    const actor = testActor(held);

    // Act
    const answer = ask<number, TestEvent>(actor, (reply) => ({ type: 'echo', value: 42, reply }), TIMEOUT_MS);

    // Assert
    expect(clock.countTimers()).to.equal(0);
    expect(await answer).to.equal(42);
  });

  it('sends the event it builds exactly once', async () => {
    const actor = testActor(held);
    const send = sinon.spy(actor, 'send');

    await ask<number, TestEvent>(actor, (reply) => ({ type: 'echo', value: 1, reply }), TIMEOUT_MS);

    expect(send.callCount).to.equal(1);
    expect(send.firstCall.args[0]).to.include({ type: 'echo', value: 1 });
  });

  it('resolves with the first of several replies', async () => {
    const actor = testActor(held);
    expect(await ask<number, TestEvent>(actor, (reply) => ({ type: 'twice', reply }), TIMEOUT_MS)).to.equal(1);
  });

  it('resolves with a reply that comes later, and clears its timer', async () => {
    // Arrange
    const actor = testActor(held);
    const answer = track(ask<number, TestEvent>(actor, (reply) => ({ type: 'hold', reply }), TIMEOUT_MS));
    expect(clock.countTimers()).to.equal(1);

    // Act
    await clock.tickAsync(TIMEOUT_MS - 1);
    held[0](7);
    await clock.tickAsync(0);

    // Assert
    expect(answer).to.deep.equal({ state: 'resolved', value: 7 });
    expect(clock.countTimers()).to.equal(0);
  });

  it('rejects with AskTimeoutError after timeoutMs when the actor is stopped, and not a millisecond before', async () => {
    // Arrange: a stopped actor silently drops what it is sent.
    const actor = testActor(held);
    actor.stop();
    const answer = track(ask<number, TestEvent>(actor, (reply) => ({ type: 'echo', value: 1, reply }), TIMEOUT_MS));

    // Act + Assert
    await clock.tickAsync(TIMEOUT_MS - 1);
    expect(answer.state).to.equal('pending');
    await clock.tickAsync(1);
    expect(answer.state).to.equal('rejected');
    expect(answer.error).to.be.instanceOf(AskTimeoutError);
    expect(answer.error).to.be.instanceOf(Error);
    expect(answer.error).to.include({ name: 'AskTimeoutError', timeoutMs: TIMEOUT_MS, message: `no reply within ${TIMEOUT_MS} ms` });
  });

  it('ignores a reply that arrives after the timeout', async () => {
    // Arrange
    const actor = testActor(held);
    const answer = track(ask<number, TestEvent>(actor, (reply) => ({ type: 'hold', reply }), TIMEOUT_MS));
    await clock.tickAsync(TIMEOUT_MS);

    // Act
    expect(() => held[0](99)).not.to.throw();
    await clock.tickAsync(0);

    // Assert
    expect(answer.state).to.equal('rejected');
    expect(answer.value).to.equal(undefined);
    expect(clock.countTimers()).to.equal(0);
  });
});
