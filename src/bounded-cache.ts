/**
 * Values made from a key once and kept, at most `size` of them: past that the oldest key is dropped
 * first, so a flood of distinct keys costs a bounded map. A key that makes `undefined` is not kept.
 */
export class BoundedCache<V> {
  private readonly values = new Map<string, V>();

  constructor(
    private readonly make: (key: string) => V | undefined,
    private readonly size: number,
  ) {}

  get(key: string): V | undefined {
    let value = this.values.get(key);
    if (value === undefined) {
      value = this.make(key);
      if (value === undefined) return undefined;
      if (this.values.size >= this.size) this.values.delete(this.values.keys().next().value as string);
      this.values.set(key, value);
    }
    return value;
  }

  /** Keys held now. */
  get held(): number {
    return this.values.size;
  }
}
