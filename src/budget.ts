import type { StateBudget } from '../actors/counting/budget.js';
import type { Readiness } from './health.js';
import type { Logger } from './log.js';

/** The `/readyz` reason while state is at MEMORY_BUDGET. */
export const OVER_BUDGET_REASON = 'memory budget reached';

/**
 * Says in `/readyz` and in the logs when state reaches MEMORY_BUDGET and when it is back under it,
 * and when MAX_CAMPAIGNS is reached; checks every `intervalMs` (the budget itself refuses growth at
 * once, this only reports). Unready at the budget takes the node out of a load balancer's rotation
 * for new work, while reads and known users keep being answered. Returns a stop function.
 */
export function watchBudget(budget: StateBudget, readiness: Readiness, logger: Logger, intervalMs = 1000): () => void {
  let full = false;
  let capped = false;
  const figures = (): Record<string, number> => ({ state_bytes: budget.bytes, memory_budget: budget.limits.maxBytes, campaigns: budget.campaigns });
  const check = (): void => {
    if (budget.full !== full) {
      full = budget.full;
      if (full) {
        logger.warn(figures(), 'memory budget reached: new campaigns, users and ads are refused (503) until state shrinks; duplicates and reads go on');
        readiness.set('memory', OVER_BUDGET_REASON);
      } else {
        logger.info(figures(), 'state back under the memory budget: new campaigns, users and ads are accepted again');
        readiness.set('memory', undefined);
      }
    }
    const atLimit = budget.campaigns >= budget.limits.maxCampaigns;
    if (atLimit !== capped) {
      capped = atLimit;
      if (atLimit) logger.warn({ ...figures(), max_campaigns: budget.limits.maxCampaigns }, 'campaign limit reached: creating a campaign answers 507 (MAX_CAMPAIGNS)');
    }
  };
  check();
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
