/** Restart intensity: at most `maxRestarts` restarts of one campaign within `windowMs`. */
export interface SupervisionLimits {
  readonly maxRestarts: number;
  readonly windowMs: number;
}

/**
 * The supervision decisions, by name:
 * - `resume`: the campaign crashed between impressions; its state is intact and a successor actor
 *   resumes it. Nothing is lost; the message in flight was answered `unavailable`.
 * - `restart`: the crash came while an impression was being applied; what it had changed is rolled
 *   back (the impression was not counted and a retry counts), then a successor takes the state over.
 * - `stop`: more than `maxRestarts` within `windowMs`; the campaign has no actor and answers
 *   `unavailable` until the window has passed, then resumes from the same state.
 * - `escalate`: the failure is no campaign's the registry supervises: the registry fails with it and
 *   its owner decides (see system.ts, `onFatal`).
 */
export type SupervisionDecision = 'restart' | 'resume' | 'stop' | 'escalate';

/** A child's failure, as its supervisor sees it. */
export interface Failure {
  /** Whether the failed actor is a campaign actor the registry supervises now. */
  readonly supervised: boolean;
  /** Whether it failed while applying an impression (so part of it must be rolled back). */
  readonly interrupted: boolean;
  /** When, by the registry's clock. */
  readonly at: number;
}

/** A campaign's recent restarts, oldest first, and the intensity it is allowed. */
export interface RestartHistory {
  readonly restarts: readonly number[];
  readonly limits: SupervisionLimits;
}

/** The registry's supervision policy: what to do about one failure, given the campaign's history. */
export function decide(failure: Failure, history: RestartHistory): SupervisionDecision {
  if (!failure.supervised) return 'escalate';
  const { maxRestarts, windowMs } = history.limits;
  const inWindow = history.restarts.filter((t) => failure.at - t < windowMs).length + 1;
  if (inWindow > maxRestarts) return 'stop';
  return failure.interrupted ? 'restart' : 'resume';
}
