/** Whether the service should receive traffic, as `/readyz` reports it. */
export type ReadinessState = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * The one readiness flag, owned by `main.ts` and shared with the app. Start-up, recovery and
 * draining mark it unready with a reason; so can named conditions that come and go while running
 * (a disk that refuses the journal). Being alive (`/healthz`) is separate and never changes.
 */
export class Readiness {
  private lifecycle: ReadinessState;
  private readonly conditions = new Map<string, string>();
  /** Facts `/readyz` shows whatever the state, e.g. what recovery found damaged or lost. */
  readonly details: Record<string, unknown> = {};

  /** Starts ready, or unready for `reason` (e.g. `'starting'`). */
  constructor(reason?: string) {
    this.lifecycle = reason === undefined ? READY : { ready: false, reason };
  }

  get state(): ReadinessState {
    if (!this.lifecycle.ready) return this.lifecycle;
    for (const reason of this.conditions.values()) return { ready: false, reason };
    return READY;
  }

  get isReady(): boolean {
    return this.state.ready;
  }

  ready(): void {
    this.lifecycle = READY;
  }

  /** Marks the service unready; `reason` is shown by `/readyz` (e.g. `'recovering'`, `'draining'`). */
  unready(reason: string): void {
    this.lifecycle = { ready: false, reason };
  }

  /** Marks a named condition unready with `reason`, or clears it with `undefined`. */
  set(condition: string, reason: string | undefined): void {
    if (reason === undefined) this.conditions.delete(condition);
    else this.conditions.set(condition, reason);
  }
}

const READY: ReadinessState = Object.freeze({ ready: true });
