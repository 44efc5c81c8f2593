import type { AnyActorRef, EventObject } from 'xstate';

/** A reply callback carried by an ask; the actor calls it once, synchronously while processing. */
export type Reply<T> = (value: T) => void;

/** An ask got no reply in time: the actor is stopped (xstate drops its events) or stuck. */
export class AskTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no reply within ${timeoutMs} ms`);
    this.name = 'AskTimeoutError';
  }
}

/**
 * Request/reply: sends the event built around a reply callback and resolves with the reply. An idle
 * actor processes the event inside `send`, so the reply is usually already there and no timer is
 * armed; otherwise the ask fails after `timeoutMs`.
 */
export function ask<T, E extends EventObject>(
  ref: AnyActorRef,
  build: (reply: Reply<T>) => E,
  timeoutMs: number,
): Promise<T> {
  let replied = false;
  let value: T | undefined;
  let settle: ((v: T) => void) | undefined;
  ref.send(
    build((v) => {
      if (replied) return;
      replied = true;
      value = v;
      settle?.(v);
    }),
  );
  if (replied) return Promise.resolve(value as T);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (replied) return;
      replied = true;
      reject(new AskTimeoutError(timeoutMs));
    }, timeoutMs);
    settle = (v) => {
      clearTimeout(timer);
      resolve(v);
    };
  });
}
