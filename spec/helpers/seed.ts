import type { Parameters as FcParameters } from 'fast-check';
import { prng } from './process.js';

/**
 * A seed for a spec's randomness: `SEED` from the environment replays a failure, otherwise a fresh
 * one each run (so runs explore, and a failure names the seed that reproduces it).
 */
export function specSeed(): number {
  const fromEnv = process.env.SEED;
  if (fromEnv === undefined || fromEnv === '') return Math.floor(Math.random() * 2 ** 32);
  const seed = Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
  return seed >>> 0;
}

/**
 * Gives each test of the enclosing `describe` a fresh seeded PRNG and, when the test fails, prints
 * the seed and the command that replays it. Call at describe level; read `random()` inside a test.
 */
export function seededTests(file: string): { random: () => number; seed: () => number } {
  let seed = 0;
  let random = prng(0);
  beforeEach(() => {
    seed = specSeed();
    random = prng(seed);
  });
  afterEach(function () {
    const test = this.currentTest;
    if (test?.state !== 'failed') return;
    process.stderr.write(`\n  seed ${seed}: replay with SEED=${seed} npx mocha ${file} -g ${JSON.stringify(test.title)}\n`);
  });
  return { random: () => random(), seed: () => seed };
}

/**
 * fast-check run parameters: `FC_SEED` (and `FC_PATH`, both printed by fast-check in a failure)
 * replay a counterexample; `FC_RUNS` runs more (or fewer) cases than the property's default.
 * fast-check reports the seed and path of every failure in the error it throws.
 */
export function fcParams(numRuns: number): FcParameters<unknown> {
  const env = process.env;
  const params: { numRuns: number; seed?: number; path?: string; endOnFailure?: boolean } = { numRuns: env.FC_RUNS ? Number(env.FC_RUNS) : numRuns };
  if (env.FC_SEED) params.seed = Number(env.FC_SEED);
  if (env.FC_PATH) params.path = env.FC_PATH;
  return params;
}
