/**
 * The one bound on state growth, shared by the registry and every campaign actor: bytes of counting
 * and analytics state (each campaign actor adds the change in its own O(1) byte figure after every
 * message, so the total is never a walk), and the number of campaigns.
 *
 * Like Redis's `maxmemory` with `noeviction`: once the bytes reach `maxBytes`, whatever would add
 * state (a campaign, a user not in a campaign's dedupe table, an ad without a row) is refused, while
 * everything else goes on: duplicates, users already held, reads. State shrinks again as dedupe keys
 * expire and old buckets age out. Recovery never refuses: a state that ran must load.
 */
export interface StateLimits {
  /** Bytes of state beyond which growth is refused. */
  readonly maxBytes: number;
  readonly maxCampaigns: number;
}

/** Why growth was refused: the byte budget is used up, or the campaign limit is reached. */
export type Refusal = 'memory' | 'campaigns';

export class StateBudget {
  private used = 0;
  private count = 0;

  constructor(readonly limits: StateLimits) {}

  /** Bytes of state held, as the actors last reported them. */
  get bytes(): number {
    return this.used;
  }

  get campaigns(): number {
    return this.count;
  }

  /** True while state is at or over the byte budget. */
  get full(): boolean {
    return this.used >= this.limits.maxBytes;
  }

  /** Why a new campaign would be refused now, if it would. */
  campaignRefusal(): Refusal | undefined {
    if (this.count >= this.limits.maxCampaigns) return 'campaigns';
    return this.full ? 'memory' : undefined;
  }

  /** Adds a change in some actor's bytes (negative when it shrank). */
  change(delta: number): void {
    this.used += delta;
  }

  campaignAdded(): void {
    this.count++;
  }
}
