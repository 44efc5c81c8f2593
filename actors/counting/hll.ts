/**
 * A small HyperLogLog: distinct-count estimates in at most 2^p bytes, fed with the 128-bit user digests
 * the dedupe table already computed (no second hash). Register index: the top p bits of word 1; rank:
 * leading zeros of word 2, plus one (words 1 and 2 are independent bits of MurmurHash3, so the
 * sketch sees 32 + p hash bits: no large-range correction is needed below ~2^40 users).
 *
 * Small sketches are sparse: an open-addressing table of `(index + 1) << 6 | rank` words that grows
 * until it would be as large as the dense form (2^p bytes), then turns dense. Unions take the
 * register-wise maximum and are exact; sums of estimates would count a user once per bucket.
 * The estimator is Ertl's improved raw estimator (arXiv:1702.01284), unbiased over the whole range
 * without empirical tables. Standard error ≈ 1.04 / √(2^p): 1.63 % at p = 12, 3.25 % at p = 10.
 */
export class Hll {
  /** Sparse entries, or undefined once dense. */
  private sparse: Uint32Array | undefined = EMPTY;
  private used = 0;
  private dense: Uint8Array | undefined;

  constructor(readonly p: number) {}

  /** Adds the user whose 128-bit digest is `d` (same words as hash128 writes). */
  add(d: Uint32Array): void {
    const index = d[1] >>> (32 - this.p);
    const w = d[2];
    const rank = w === 0 ? 33 : Math.clz32(w) + 1;
    const dense = this.dense;
    if (dense !== undefined) {
      if (dense[index] < rank) dense[index] = rank;
      return;
    }
    this.addSparse(index, rank);
  }

  /** Raises register `index` to `rank` (a register kept elsewhere, e.g. a sparse row's). */
  addRegister(index: number, rank: number): void {
    const dense = this.dense;
    if (dense !== undefined) {
      if (dense[index] < rank) dense[index] = rank;
      return;
    }
    this.addSparse(index, rank);
  }

  /** Register-wise maximum into `into` (a dense register array of 2^p bytes). */
  unionInto(into: Uint8Array): void {
    const dense = this.dense;
    if (dense !== undefined) {
      for (let i = 0; i < dense.length; i++) if (dense[i] > into[i]) into[i] = dense[i];
      return;
    }
    const s = this.sparse as Uint32Array;
    for (let i = 0; i < s.length; i++) {
      const e = s[i];
      if (e === 0) continue;
      const index = (e >>> 6) - 1;
      const rank = e & 63;
      if (rank > into[index]) into[index] = rank;
    }
  }

  /** The estimate for this sketch alone. */
  estimate(): number {
    const registers = new Uint8Array(1 << this.p);
    this.unionInto(registers);
    return estimate(registers);
  }

  get isEmpty(): boolean {
    return this.dense === undefined && this.used === 0;
  }

  get bytes(): number {
    return this.dense?.byteLength ?? (this.sparse as Uint32Array).byteLength;
  }

  /** The sketch as one array: dense registers, or the sparse table (copied). */
  capture(): { dense: boolean; data: Uint8Array | Uint32Array } {
    return this.dense !== undefined ? { dense: true, data: this.dense.slice() } : { dense: false, data: (this.sparse as Uint32Array).slice() };
  }

  /** Rebuilds a sketch from `capture()` output (taking ownership of it). */
  static restore(p: number, image: { dense: boolean; data: Uint8Array | Uint32Array }): Hll {
    const h = new Hll(p);
    if (image.dense) {
      h.dense = image.data as Uint8Array;
      h.sparse = undefined;
    } else {
      const s = image.data as Uint32Array;
      h.sparse = s.length === 0 ? EMPTY : s;
      for (let i = 0; i < s.length; i++) if (s[i] !== 0) h.used++;
    }
    return h;
  }

  private addSparse(index: number, rank: number): void {
    let s = this.sparse as Uint32Array;
    const key = index + 1;
    if (s.length > 0) {
      const mask = s.length - 1;
      for (let i = Math.imul(key, 0x9e3779b1) >>> 0; ; i++) {
        const e = s[i & mask];
        if (e === 0) break;
        if (e >>> 6 === key) {
          if ((e & 63) < rank) s[i & mask] = (key << 6) | rank;
          return;
        }
      }
    }
    if ((this.used + 1) * 4 > s.length * 3) {
      const capacity = Math.max(8, s.length * 2);
      // Past this size the sparse table would outweigh the dense registers.
      if (capacity * 4 > 1 << this.p) {
        this.toDense();
        const dense = this.dense as Uint8Array;
        if (dense[index] < rank) dense[index] = rank;
        return;
      }
      s = this.rehash(capacity);
    }
    const mask = s.length - 1;
    let i = Math.imul(key, 0x9e3779b1) >>> 0;
    while (s[i & mask] !== 0) i++;
    s[i & mask] = (key << 6) | rank;
    this.used++;
  }

  private rehash(capacity: number): Uint32Array {
    const old = this.sparse as Uint32Array;
    const s = new Uint32Array(capacity);
    const mask = capacity - 1;
    for (let k = 0; k < old.length; k++) {
      const e = old[k];
      if (e === 0) continue;
      let i = Math.imul(e >>> 6, 0x9e3779b1) >>> 0;
      while (s[i & mask] !== 0) i++;
      s[i & mask] = e;
    }
    this.sparse = s;
    return s;
  }

  private toDense(): void {
    const dense = new Uint8Array(1 << this.p);
    this.unionInto(dense);
    this.dense = dense;
    this.sparse = undefined;
    this.used = 0;
  }
}

const EMPTY = new Uint32Array(0);
/** Rank values run 0..33 (32 bits of rank word, plus one). */
const Q = 32;
/** How many registers hold each rank, filled and read within one `estimate` call. */
const HISTOGRAM = new Float64Array(Q + 2);

/** Ertl's improved raw estimator over dense registers. */
export function estimate(registers: Uint8Array): number {
  const m = registers.length;
  // One histogram for every call: a fresh one is allocated outside V8's heap at this size, and
  // reusing it made reading a small row's figures ~20 % faster.
  const c = HISTOGRAM.fill(0);
  for (let i = 0; i < m; i++) c[registers[i]]++;
  if (c[0] === m) return 0;
  let z = m * tau(1 - c[Q + 1] / m);
  for (let k = Q; k >= 1; k--) z = 0.5 * (z + c[k]);
  z += m * sigma(c[0] / m);
  return Math.round((m * m) / (2 * Math.LN2) / z);
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const prev = z;
    z += x * y;
    y += y;
    if (z === prev) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const prev = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === prev) return z / 3;
  }
}
