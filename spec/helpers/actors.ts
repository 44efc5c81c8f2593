import sinon from 'sinon';
import { createActor, type AnyActorRef, type EventObject } from 'xstate';
import { campaignChild, campaignLogic, type CampaignRef } from '../../actors/campaign/campaign.js';
import type { CampaignDescription, CampaignInfo, Impression, Outcome, Reply, Stats } from '../../actors/protocol.js';
import {
  registryLogic,
  type CampaignPage,
  type IngestResult,
  type RegistryDescription,
  type RegistryInput,
  type RegistryRef,
  type StatsResult,
  type SupervisionReport,
} from '../../actors/registry/registry.js';

export const SECOND_MS = 1_000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** A campaign as the façade would create it; times default to the epoch (fake clocks start at 0). */
export function campaignInfo(id: string, overrides: Partial<CampaignInfo> = {}): CampaignInfo {
  return { id, name: `campaign ${id}`, startTime: 0, createdAt: 0, ...overrides };
}

export function impression(campaignId: string, userId: string, adId = 'ad-1'): Impression {
  return { campaignId, userId, adId };
}

/** `count` distinct user ids. */
export function userIds(count: number, prefix = 'user-'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/**
 * Sends an ask-shaped event and returns its reply, which an idle in-memory actor must give exactly
 * once before `send` returns (the property the ask façade relies on to skip its timer).
 */
export function askNow<T>(ref: AnyActorRef, build: (reply: Reply<T>) => EventObject): T {
  let replies = 0;
  let value: T | undefined;
  ref.send(
    build((v) => {
      replies++;
      value = v;
    }),
  );
  if (replies !== 1) throw new Error(`expected exactly one synchronous reply, got ${replies}`);
  return value as T;
}

// ---------------------------------------------------------------------------------------------------
// Campaign actor

export interface CampaignHarness {
  readonly ref: CampaignRef;
  /** Errors the root campaign actor reported to its observer (a crash). */
  readonly errors: unknown[];
  /** Sends one `impressions` message for `users` (ids, or full impressions) at `at`. */
  impressions(at: number, users: readonly (string | Impression)[]): { out: Outcome[]; done: sinon.SinonSpy };
  /** Stats at `at` (throws if the actor answered `undefined`, i.e. crashed). */
  stats(at: number): Stats;
  sweep(at: number, budget: number): number;
  describe(): CampaignDescription;
  stop(): void;
}

export interface CampaignOptions {
  readonly id?: string;
  readonly startTime?: number;
  readonly ttlMs?: number;
}

/** A started root campaign actor with an error observer (an unobserved root error would crash mocha). */
export function startCampaign(options: CampaignOptions = {}): CampaignHarness {
  const id = options.id ?? 'c1';
  const info = campaignInfo(id, { startTime: options.startTime ?? 0 });
  const ref = createActor(campaignLogic, { input: { info, ttlMs: options.ttlMs ?? HOUR_MS } });
  const errors: unknown[] = [];
  ref.subscribe({ error: (err) => errors.push(err) });
  ref.start();
  return {
    ref,
    errors,
    impressions(at, users) {
      const items = users.map((u) => (typeof u === 'string' ? impression(id, u) : u));
      const out = new Array<Outcome>(items.length).fill('unavailable');
      const done = sinon.spy();
      ref.send({ type: 'impressions', at, items, indices: items.map((_, i) => i), out, done });
      return { out, done };
    },
    stats(at) {
      const stats = askNow<Stats | undefined>(ref, (reply) => ({ type: 'stats', at, reply }));
      if (stats === undefined) throw new Error('the campaign answered stats with undefined');
      return stats;
    },
    sweep: (at, budget) => askNow<number>(ref, (reply) => ({ type: 'sweep', at, budget, reply })),
    describe: () => askNow<CampaignDescription>(ref, (reply) => ({ type: 'describe', reply })),
    stop: () => ref.stop(),
  };
}

// ---------------------------------------------------------------------------------------------------
// Registry actor

export interface RegistryHarness {
  readonly registry: RegistryRef;
  /** Supervision reports emitted so far, in order. */
  readonly reports: SupervisionReport[];
  /** Errors of the registry itself (must stay empty). */
  readonly fatal: unknown[];
  create(id: string, overrides?: Partial<CampaignInfo>): CampaignInfo;
  get(id: string): CampaignInfo | undefined;
  list(after: number, limit: number): CampaignPage;
  ingest(at: number, items: readonly Impression[]): IngestResult;
  /** One impression of `userId` in `campaignId` at `at`: its outcome. */
  record(at: number, campaignId: string, userId: string): Outcome;
  stats(id: string, at: number): StatsResult;
  tick(at: number): void;
  describe(): RegistryDescription;
  /** The running campaign actor registered under system id `campaign:<id>`, if any. */
  campaignActor(id: string): CampaignRef | undefined;
  stop(): void;
}

export const DEFAULT_REGISTRY_INPUT: RegistryInput = {
  ttlMs: HOUR_MS,
  supervision: { maxRestarts: 3, windowMs: MINUTE_MS },
  sweepBudget: 1 << 20,
  child: campaignChild,
};

/** A started registry actor, observed for errors and for supervision reports. */
export function startRegistry(input: Partial<RegistryInput> = {}): RegistryHarness {
  const registry = createActor(registryLogic, { input: { ...DEFAULT_REGISTRY_INPUT, ...input } });
  const reports: SupervisionReport[] = [];
  const fatal: unknown[] = [];
  registry.subscribe({ error: (err) => fatal.push(err) });
  registry.on('supervision', (report) => reports.push(report));
  registry.start();
  const ingest = (at: number, items: readonly Impression[]): IngestResult =>
    askNow<IngestResult>(registry, (reply) => ({ type: 'impressions', at, items, reply }));
  return {
    registry,
    reports,
    fatal,
    create: (id, overrides) => askNow<CampaignInfo>(registry, (reply) => ({ type: 'campaign.create', info: campaignInfo(id, overrides), reply })),
    get: (id) => askNow<CampaignInfo | undefined>(registry, (reply) => ({ type: 'campaign.get', id, reply })),
    list: (after, limit) => askNow<CampaignPage>(registry, (reply) => ({ type: 'campaign.list', after, limit, reply })),
    ingest,
    record: (at, campaignId, userId) => ingest(at, [impression(campaignId, userId)]).outcomes[0],
    stats: (id, at) => askNow<StatsResult>(registry, (reply) => ({ type: 'stats', id, at, reply })),
    tick: (at) => registry.send({ type: 'tick', at }),
    describe: () => askNow<RegistryDescription>(registry, (reply) => ({ type: 'describe', reply })),
    campaignActor: (id) => registry.system.get(`campaign:${id}`) as CampaignRef | undefined,
    stop() {
      registry.send({ type: 'shutdown' });
      registry.stop();
    },
  };
}
