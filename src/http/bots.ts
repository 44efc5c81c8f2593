import { BoundedCache } from '../bounded-cache.js';
import { isbot } from 'isbot';

/**
 * Bot filtering (BOT_FILTER): impressions and clicks whose viewer's user agent is on isbot's list are
 * not counted and are reported as `bot_filtered`.
 *
 * Whose user agent: an item's `user_agent` field always speaks for its viewer. The request's own
 * `User-Agent` header speaks for the viewer only when it is a browser's (it starts with `Mozilla/`, as
 * browsers and the crawlers posing as them do): a beacon fired by a page. Any other header is the
 * caller's HTTP library (curl, Go-http-client, python-requests, node…), which isbot lists as bots, so
 * judging it would drop every impression an ad server or collector forwards.
 *
 * What it costs: isbot's pattern takes time in proportion to the text (~28 µs for 1 KB, ~420 µs for
 * 16 KB on this machine), and a batch has up to BATCH_LIMIT items. So the header is judged at most
 * once per request and only on its first MAX_USER_AGENT characters (the `user_agent` field's own
 * limit), and every verdict on a string within that limit is cached, since a few agents make up most
 * traffic.
 */
export interface BotFilter {
  /** The judge for one request's items, given the request's `User-Agent` header. */
  forRequest(header: string | undefined): BotJudge;
}

/** Whether an item is a bot's, from its `user_agent` field (or, without one, the request's header). */
export type BotJudge = (field: string | undefined) => boolean;

/** The longest user agent judged: the `user_agent` field's limit; a longer header is judged on its start. */
export const MAX_USER_AGENT = 1024;

/** Distinct user agents whose verdicts are kept (at most ~2 MB of text); the oldest go first. */
export const VERDICT_CACHE_SIZE = 1024;

/** isbot's verdicts on recent user agents, by the agent's text. */
export class VerdictCache extends BoundedCache<boolean> {
  constructor(
    private readonly judge: (agent: string) => boolean = isbot,
    size = VERDICT_CACHE_SIZE,
  ) {
    super(judge, size);
  }

  isBot(agent: string): boolean {
    // A slice of a longer string would keep the whole of it alive in the cache: judge those uncached.
    if (agent.length > MAX_USER_AGENT) return this.judge(agent.slice(0, MAX_USER_AGENT));
    return this.get(agent) as boolean;
  }
}

/** BOT_FILTER=on: isbot's list, through `cache`. */
export function botsOn(cache = new VerdictCache()): BotFilter {
  return {
    forRequest(header) {
      const browser = header !== undefined && header.startsWith('Mozilla/');
      let headerVerdict: boolean | undefined;
      return (field) => {
        if (field !== undefined) return cache.isBot(field);
        if (!browser) return false;
        return (headerVerdict ??= cache.isBot(header));
      };
    },
  };
}

export const BOTS_ON: BotFilter = botsOn();

const NEVER: BotJudge = () => false;
export const BOTS_OFF: BotFilter = { forRequest: () => NEVER };

export function botFilter(enabled: boolean): BotFilter {
  return enabled ? BOTS_ON : BOTS_OFF;
}
