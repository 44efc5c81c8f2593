import type { CampaignInfo } from '../../../actors/protocol.js';
import type { RedisConnection } from './connection.js';
import { CAMPAIGN_LIST } from './keys.js';

/**
 * Where campaign definitions live when they are shared between service nodes (STORE=redis). A call
 * that cannot be served rejects with a 503 error of its own.
 */
export interface CampaignDirectory {
  create(info: CampaignInfo): Promise<CampaignInfo>;
  get(id: string): Promise<CampaignInfo | undefined>;
  list(after: number, limit: number): Promise<{ campaigns: CampaignInfo[]; next?: number }>;
  /** Why campaign calls are refused right now beyond a passing outage (e.g. the store lost its data). */
  readonly refusal?: string;
}

/**
 * Campaign records in Redis: a hash per campaign (`ic:{<id>}:c`: name, start, created, and the total
 * the ingest script keeps) and the list of ids `ic:campaigns`, over the store's connection.
 */
export class RedisDirectory implements CampaignDirectory {
  constructor(private readonly redis: RedisConnection) {}

  get refusal(): string | undefined {
    return this.redis.refusal;
  }

  async create(info: CampaignInfo): Promise<CampaignInfo> {
    await this.redis.call(() => this.redis.scripts.icCreate(this.redis.key(info.id, 'c'), this.redis.epochKey(info.id), info.name, info.startTime, info.createdAt));
    // Listed after it exists: a failure here leaves a campaign that counts but is not listed, never the reverse.
    await this.redis.call(() => this.redis.client.rpush(CAMPAIGN_LIST, info.id));
    return info;
  }

  async get(id: string): Promise<CampaignInfo | undefined> {
    const [name, start, created] = await this.redis.call(() => this.redis.scripts.icGet(this.redis.key(id, 'c'), this.redis.epochKey(id)));
    if (name === null || start === null || created === null) return undefined;
    return { id, name, startTime: Number(start), createdAt: Number(created) };
  }

  async list(after: number, limit: number): Promise<{ campaigns: CampaignInfo[]; next?: number }> {
    // One more than asked says whether there is a next page.
    const ids = await this.redis.call(() => this.redis.client.lrange(CAMPAIGN_LIST, after, after + limit));
    const found = await Promise.all(ids.slice(0, limit).map((id) => this.get(id)));
    return { campaigns: found.filter((c) => c !== undefined), next: ids.length > limit ? after + limit : undefined };
  }
}
