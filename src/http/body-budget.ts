/**
 * Bytes of request bodies buffered at once, across every request of the server (BODY_BUFFER_BUDGET).
 * BODY_LIMIT bounds one body; without this bound, N slow clients each sending BODY_LIMIT − 1 bytes
 * and never finishing hold N × BODY_LIMIT of memory until they time out (1,000 of them: ~1 GB).
 *
 * A body reserves what its Content-Length declares before a byte is read (so a request that cannot
 * fit is refused at once, without buffering anything), and a chunked body reserves as it grows.
 * The last `reserveBytes` of the budget are kept for small bodies (at most `smallBodyBytes` in
 * all): a flood of large stalled bodies fills the rest and is refused, while ordinary
 * single-impression and small-batch requests keep being served.
 */
export class BodyBudget {
  private usedBytes = 0;
  /** Bodies refused since start because the budget could not hold them (read by /metrics). */
  refused = 0;
  /** Bytes kept for small bodies: large ones may use the budget up to `limitBytes − reserveBytes`. */
  readonly reserveBytes: number;

  constructor(
    readonly limitBytes: number,
    readonly smallBodyBytes = SMALL_BODY_BYTES,
  ) {
    this.reserveBytes = Math.floor(limitBytes / 8);
  }

  /** Bytes reserved now, across all requests. */
  get used(): number {
    return this.usedBytes;
  }

  /**
   * Grows a body's reservation from `held` to `total` bytes; false (nothing taken) when the budget
   * cannot hold it. A body of at most `smallBodyBytes` may use the reserve kept for small bodies.
   */
  grow(held: number, total: number): boolean {
    const more = total - held;
    if (more <= 0) return true;
    const ceiling = total <= this.smallBodyBytes ? this.limitBytes : this.limitBytes - this.reserveBytes;
    if (this.usedBytes + more > ceiling) {
      this.refused++;
      return false;
    }
    this.usedBytes += more;
    return true;
  }

  /** Gives back a body's whole reservation once its bytes are parsed or dropped. */
  release(held: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - held);
  }
}

/** Bodies up to this size count as small: a single impression is ~100 B, a 100-item batch ~10 KB. */
export const SMALL_BODY_BYTES = 16 * 1024;

/** No bound: for servers built without one (the bench's baseline servers). */
export const UNBOUNDED = new BodyBudget(Number.MAX_SAFE_INTEGER);
