/** Every key starts with this, so the service's keys are easy to tell apart in a shared Redis. */
export const PREFIX = 'ic:';

/** The list of campaign ids, in creation order. */
export const CAMPAIGN_LIST = `${PREFIX}campaigns`;

/**
 * `ic:{<campaign tag>}:<what>`: every key of a campaign carries its hash tag, so one shard owns the
 * whole campaign and its scripts never cross slots.
 */
export function campaignKey(campaignId: string, what: string): string {
  return `${PREFIX}{${tagOf(campaignId)}}:${what}`;
}

/**
 * The hash tag of a campaign's keys. Ids made of [A-Za-z0-9_.-] are used as they are (server-made
 * ids always are); any other id is base64url-encoded behind `=`, so that no id can carry a brace
 * that would move the hash tag, nor a colon that would make it collide with another campaign's keys.
 */
export function tagOf(campaignId: string): string {
  return /^[\w.-]{1,128}$/.test(campaignId) ? campaignId : '=' + Buffer.from(campaignId).toString('base64url');
}
