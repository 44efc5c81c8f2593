/** Whether the service should receive traffic, as `/readyz` reports it. */
export type ReadinessState = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * The one readiness flag, owned by `main.ts` and shared with the app. Start-up, recovery and
 * draining mark it unready with a reason; being alive (`/healthz`) is separate and never changes.
 */
export class Readiness {
  private current: ReadinessState;

  /** Starts ready, or unready for `reason` (e.g. `'starting'`). */
  constructor(reason?: string) {
    this.current = reason === undefined ? READY : { ready: false, reason };
  }

  get state(): ReadinessState {
    return this.current;
  }

  get isReady(): boolean {
    return this.current.ready;
  }

  ready(): void {
    this.current = READY;
  }

  /** Marks the service unready; `reason` is shown by `/readyz` (e.g. `'recovering'`, `'draining'`). */
  unready(reason: string): void {
    this.current = { ready: false, reason };
  }
}

const READY: ReadinessState = Object.freeze({ ready: true });
