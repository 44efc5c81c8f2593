/** The one source of time. Events are stamped with `now()` at the edge; actor logic only reads stamps. */
export interface Clock {
  now(): number;
}

/** Wall-clock time in epoch milliseconds (sinon fake timers replace `Date.now`, so tests drive it). */
// eslint-disable-next-line no-restricted-properties -- the one sanctioned read of the wall clock
export const systemClock: Clock = { now: () => Date.now() };
