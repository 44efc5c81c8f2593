/** Times a deadline is started again because this process, not the store, was too busy to see the answer. */
const DEADLINE_RESTARTS = 3;

/**
 * Rejects if `promise` has not settled within `ms` of time in which this process could have read
 * the answer. When the process is too busy (a flood of requests, a long GC), the timer fires late,
 * after commands were queued but perhaps not yet written, or answered but not yet read: a timer late
 * by more than half the deadline starts it again (at most DEADLINE_RESTARTS times), and a rejection
 * waits until the loop turn in which it fires has read its sockets. A busy node must not take its
 * own slowness for a Redis failure and open the breaker for every client.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what = 'Redis'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    let restarts = 0;
    const arm = (): void => {
      const due = performance.now() + ms;
      timer = setTimeout(() => {
        if (performance.now() - due > ms / 2 && restarts++ < DEADLINE_RESTARTS) return arm();
        setImmediate(() => reject(new Error(`${what} did not answer within ${ms} ms`)));
      }, ms);
    };
    arm();
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
