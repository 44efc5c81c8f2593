/**
 * Impression streams generated up front (so generation is never measured), deterministic for a seed,
 * with the bookkeeping the correctness checks need: which impressions are a user's first in their
 * campaign, hence how many distinct users any prefix of the stream holds.
 */
export interface Workload {
  readonly campaignIds: readonly string[];
  /** The ids as JSON strings, quoted once. */
  readonly quotedIds: readonly string[];
  /** Campaign index of each impression. */
  readonly campaign: Uint32Array;
  /** User id of each impression. */
  readonly users: readonly string[];
  /** 1 where the impression is its user's first in that campaign. */
  readonly fresh: Uint8Array;
}

export interface WorkloadOptions {
  readonly count: number;
  readonly campaignIds: readonly string[];
  /** Share of impressions that repeat a user already seen in the same campaign. */
  readonly duplicateShare: number;
  readonly seed: number;
  /** Keeps the users of different workloads apart (one letter). */
  readonly userPrefix: string;
}

/** A 15-character user id, unique per (prefix, n). */
export function userId(prefix: string, n: number): string {
  return prefix + String(10_000_000_000_000 + n);
}

export function makeWorkload(options: WorkloadOptions): Workload {
  const { count, campaignIds, duplicateShare, userPrefix } = options;
  const random = mulberry32(options.seed);
  const campaign = new Uint32Array(count);
  const users = new Array<string>(count);
  const fresh = new Uint8Array(count);
  const seen: string[][] = campaignIds.map(() => []);
  let next = 0;
  for (let i = 0; i < count; i++) {
    const c = Math.floor(random() * campaignIds.length);
    const previous = seen[c];
    campaign[i] = c;
    if (previous.length > 0 && random() < duplicateShare) {
      users[i] = previous[Math.floor(random() * previous.length)];
    } else {
      const user = userId(userPrefix, next++);
      previous.push(user);
      users[i] = user;
      fresh[i] = 1;
    }
  }
  return { campaignIds, quotedIds: campaignIds.map((id) => JSON.stringify(id)), campaign, users, fresh };
}

/** Distinct users per campaign among the first `upTo` impressions. */
export function distinctPerCampaign(w: Workload, upTo: number): number[] {
  const counts = w.campaignIds.map(() => 0);
  for (let i = 0; i < upTo; i++) if (w.fresh[i] === 1) counts[w.campaign[i]]++;
  return counts;
}

/** The impression as the API takes it. */
export function impressionJson(w: Workload, i: number): string {
  return `{"campaign_id":${w.quotedIds[w.campaign[i]]},"user_id":"${w.users[i]}","ad_id":"ad-${i % 16}"}`;
}

/** Impressions [from, to) as one JSON array body. */
export function batchJson(w: Workload, from: number, to: number): string {
  const parts = new Array<string>(to - from);
  for (let i = from; i < to; i++) parts[i - from] = impressionJson(w, i);
  return `[${parts.join(',')}]`;
}

/** The impression as the actor system takes it. */
export function impressionItem(w: Workload, i: number): { campaignId: string; userId: string; adId: string } {
  return { campaignId: w.campaignIds[w.campaign[i]], userId: w.users[i], adId: `ad-${i % 16}` };
}

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same workload. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
