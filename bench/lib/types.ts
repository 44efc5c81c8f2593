/** What a scenario is given, what it reports, and how a figure is judged. */

export interface BenchContext {
  /** Smaller workloads and shorter runs (`--quick`). */
  readonly quick: boolean;
  /** When set, the service under load runs with `--cpu-prof` writing here (`--profile DIR`). */
  readonly profileDir: string | undefined;
  /**
   * Monotonic-clock windows (µs, as in `.cpuprofile` timestamps) in which the profiled service was
   * under measured load; the profile summary counts only samples inside them.
   */
  readonly profileWindows: [number, number][];
  /** DURABILITY for the service (`--durability`); undefined keeps the service's default. */
  readonly durability: string | undefined;
  /** A progress line on stderr. */
  log(message: string): void;
}

/** A pass mark: `value op target` (for a baseline, on the ratio ours / baseline). */
export interface Target {
  readonly op: '>=' | '<=';
  readonly value: number;
}

export interface Baseline {
  readonly name: string;
  readonly value: number;
  /** Judges ours / this baseline. */
  readonly ratioTarget?: Target;
}

export interface Figure {
  readonly name: string;
  readonly unit: string;
  /** Ours. NaN when it could not be measured. */
  readonly value: number;
  /** Measured in the same run; the ratio shown is ours / baseline. */
  readonly baselines?: readonly Baseline[];
  /** Judges ours on its own. */
  readonly target?: Target;
}

/** A correctness check: printed ✓/✗; any ✗ makes the bench exit non-zero. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Section {
  readonly title: string;
  readonly figures: readonly Figure[];
  readonly checks: readonly Check[];
  readonly notes?: readonly string[];
}

/**
 * One benchmark scenario. Add one by writing `bench/scenarios/<id>.ts` exporting a Scenario and
 * listing it in `bench/scenarios/index.ts`.
 */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(ctx: BenchContext): Promise<Section[]>;
}

export function meets(value: number, target: Target): boolean {
  return target.op === '>=' ? value >= target.value : value <= target.value;
}
