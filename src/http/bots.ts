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
 */
export interface BotFilter {
  isBot(field: string | undefined, header: string | undefined): boolean;
}

export const BOTS_ON: BotFilter = {
  isBot(field, header) {
    if (field !== undefined) return isbot(field);
    return header !== undefined && header.startsWith('Mozilla/') && isbot(header);
  },
};

export const BOTS_OFF: BotFilter = { isBot: () => false };

export function botFilter(enabled: boolean): BotFilter {
  return enabled ? BOTS_ON : BOTS_OFF;
}
