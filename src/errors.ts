/**
 * Errors the service raises on purpose. Each carries its HTTP status; the one error middleware turns
 * it into `{"error", "code"}`. Only these (and Koa's own 4xx) show their message to clients.
 */
export class AppError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string) {
    super(400, message);
  }
}

export class CampaignNotFoundError extends AppError {
  constructor(readonly campaignId: string) {
    super(404, `campaign ${JSON.stringify(campaignId)} not found`);
  }
}

export class CampaignNotStartedError extends AppError {
  constructor(readonly campaignId: string, startTime: number) {
    super(409, `campaign ${JSON.stringify(campaignId)} has not started yet; it starts at ${new Date(startTime).toISOString()}`);
  }
}

export class UnavailableError extends AppError {
  constructor(message: string, retryAfterMs: number) {
    super(503, message, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string) {
    super(413, message);
  }
}

export class DeadLetterError extends AppError {
  constructor(readonly campaignId: string) {
    super(422, `impression crashed campaign ${JSON.stringify(campaignId)} repeatedly and was set aside in the dead-letter log; it will not be counted`);
  }
}

/** The disk under DATA_DIR is full: nothing new is accepted until space returns (reads keep working). */
export class InsufficientStorageError extends AppError {
  constructor(message: string, retryAfterMs: number) {
    super(507, message, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  }
}

/** How long a client refused at the memory budget should wait: expiring dedupe keys free state over time. */
export const OVER_BUDGET_RETRY_AFTER_S = 30;

/**
 * State is at MEMORY_BUDGET: whatever would add state (a campaign, a new user or ad) is refused until
 * expiring dedupe keys and ageing buckets free some; everything else goes on.
 */
export class OverBudgetError extends AppError {
  constructor(what: string) {
    super(503, `the service is at its memory budget (MEMORY_BUDGET): ${what} would add state and is refused; retry later`, { 'Retry-After': String(OVER_BUDGET_RETRY_AFTER_S) });
  }
}

/** MAX_CAMPAIGNS campaigns exist: campaigns are never deleted, so only raising the limit helps. */
export class CampaignLimitError extends AppError {
  constructor(max: number | undefined) {
    super(507, `campaign limit reached: MAX_CAMPAIGNS allows ${max ?? 'no more'} campaigns; no more can be created`);
  }
}
