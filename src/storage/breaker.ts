import { UnavailableError } from '../errors.js';

/** A call refused, or failed, because the store is unreachable or too slow: a 503 with `Retry-After`. */
export class StoreUnavailableError extends UnavailableError {
  constructor(store: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(`the ${store} is unavailable; retry shortly`, retryAfterMs);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

export interface BreakerOptions {
  /** Named in errors (`the Redis store is unavailable`). */
  readonly store: string;
  /** Consecutive failures that open the circuit. */
  readonly threshold: number;
  /** How long an open circuit refuses calls before probing again; also the `Retry-After`. */
  readonly openMs: number;
  /** A cheap call that succeeds only when the store can serve again (e.g. PING to every node). */
  readonly probe: () => Promise<unknown>;
  /** Told when the circuit opens (`true`) and closes (`false`). */
  readonly onChange?: (open: boolean) => void;
}

/**
 * A circuit breaker in front of a store. Closed, it passes calls through and counts consecutive
 * failures; at `threshold` it opens and refuses every call at once, so requests answer 503 within
 * microseconds instead of each waiting out a timeout. While open it probes the store every
 * `openMs` on its own (not on request traffic, which a load balancer may have withdrawn because
 * `/readyz` went unready) and closes on the first probe that succeeds.
 */
export class CircuitBreaker {
  private failures = 0;
  private probing: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: BreakerOptions) {}

  get isOpen(): boolean {
    return this.probing !== undefined;
  }

  /** Runs `call` unless the circuit is open; any failure becomes a StoreUnavailableError. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.isOpen) throw new StoreUnavailableError(this.options.store, this.options.openMs);
    try {
      const value = await call();
      this.failures = 0;
      return value;
    } catch (err) {
      if (++this.failures >= this.options.threshold) this.open();
      throw new StoreUnavailableError(this.options.store, this.options.openMs, { cause: err });
    }
  }

  /** Opens the circuit now (e.g. the store was unreachable at start) and starts probing. */
  open(): void {
    if (this.isOpen || this.stopped) return;
    this.schedule();
    this.options.onChange?.(true);
  }

  /** Stops probing for good (shutdown). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.probing);
    this.probing = undefined;
  }

  private schedule(): void {
    this.probing = setTimeout(() => {
      this.options.probe().then(
        () => this.close(),
        () => {
          if (!this.stopped) this.schedule();
        },
      );
    }, this.options.openMs);
    this.probing.unref();
  }

  private close(): void {
    if (this.stopped) return;
    this.probing = undefined;
    this.failures = 0;
    this.options.onChange?.(false);
  }
}
