import type { ActorLogic, ActorRefFrom, ActorScope, AnyActorRef, Snapshot } from 'xstate';
import type { AnalyticsEvent, AnalyticsOptions } from '../analytics-protocol.js';
import type { Refusal, StateBudget } from '../counting/budget.js';
import {
  CHILD_NOT_FOUND,
  CHILD_UNSUPPORTED,
  type CampaignChild,
  type CampaignDescription,
  type CampaignImage,
  type CampaignInfo,
  type CampaignInput,
  type CampaignPage,
  type RecordsFailure,
  type ChildRef,
  type Impression,
  type JournalSink,
  type Outcome,
  type Reply,
  type Stats,
} from '../protocol.js';
import { decide, type SupervisionDecision, type SupervisionLimits } from './supervision.js';

export type { SupervisionDecision, SupervisionLimits } from './supervision.js';
export type { CampaignPage, RecordsFailure } from '../protocol.js';

export interface RegistryInput {
  readonly ttlMs: number;
  readonly supervision: SupervisionLimits;
  /** Dedupe slots scanned per `tick`, across all campaigns. */
  readonly sweepBudget: number;
  /** Where state changes are recorded for durability; absent when running in memory only. */
  readonly journal?: JournalSink;
  /**
   * What the campaign actors are (given by whoever composes the system). A child with records keeps
   * its campaigns in a shared store (STORE=redis): campaigns are created, got and listed there, and an
   * id this registry has not seen may still name a campaign, so the store is asked first and an actor
   * is made only when it has the campaign (and dropped again once the child says it can be retired).
   */
  readonly child: CampaignChild;
  /** Ads, clicks and analytics limits and retention for every campaign actor. */
  readonly analytics?: AnalyticsOptions;
  /** The bound on state bytes and campaigns (memory mode); absent: unbounded. */
  readonly budget?: StateBudget;
}

/**
 * Ids waiting for the store to say whether they name campaigns. Beyond this, an id not seen yet is
 * answered `unavailable` at once instead of being looked up: a flood of unknown ids costs bounded
 * memory, and campaigns this node already serves are unaffected.
 */
export const MAX_PENDING_LOOKUPS = 50_000;
/** `Retry-After` of an id whose lookup failed or was refused. */
const LOOKUP_RETRY_MS = 1000;

/** Distinct crashing items remembered per campaign, and the crashes that make an item poison. */
const CRASH_MEMORY = 1000;
const POISON_AFTER_CRASHES = 2;

export interface SupervisionReport {
  readonly type: 'supervision';
  readonly campaignId: string;
  readonly decision: SupervisionDecision;
  readonly error: unknown;
  readonly restartsInWindow: number;
}

/**
 * An impression that crashed its campaign actor `POISON_AFTER_CRASHES` times: it is set aside
 * (answered `dead_letter` from then on, never processed again) instead of crash-looping.
 */
export interface DeadLetterReport {
  readonly type: 'dead_letter';
  readonly campaignId: string;
  readonly impression: Impression;
  readonly error: unknown;
}

export type RegistryEmitted = SupervisionReport | DeadLetterReport;

export interface IngestResult {
  readonly outcomes: Outcome[];
  /** How long a client should wait before retrying items answered `unavailable` (0 if none). */
  readonly retryAfterMs: number;
}

export type StatsResult = Stats | { readonly error: 'not_found' } | { readonly error: 'unavailable'; readonly retryAfterMs: number };

/** A campaign as its supervisor describes it: the actor's own figures plus what supervision knows. */
export interface SupervisedCampaign extends CampaignDescription {
  readonly actorId: string;
  readonly restarts: number;
  /** Suspended campaigns have no actor; their figures come from the parked state. */
  readonly suspended: boolean;
}

/** Totals over every campaign, and the campaigns of one page (all of them unless a page was asked). */
export interface RegistryDescription {
  readonly campaigns: number;
  readonly suspended: number;
  readonly restarts: number;
  readonly children: SupervisedCampaign[];
  /** Position to pass as `after` for the next page, absent on the last one. */
  readonly next?: number;
}

export type RegistryEvent =
  | { readonly type: 'campaign.create'; readonly info: CampaignInfo; readonly reply: Reply<CampaignInfo | { readonly refused: Refusal } | RecordsFailure> }
  | { readonly type: 'campaign.get'; readonly id: string; readonly reply: Reply<CampaignInfo | undefined | RecordsFailure> }
  | { readonly type: 'campaign.list'; readonly after: number; readonly limit: number; readonly reply: Reply<CampaignPage | RecordsFailure> }
  /** The store recorded a new campaign; sent by the registry to itself. */
  | { readonly type: 'campaign.recorded'; readonly info: CampaignInfo; readonly reply: Reply<CampaignInfo> }
  | { readonly type: 'impressions'; readonly at: number; readonly items: readonly Impression[]; readonly reply: Reply<IngestResult> }
  | { readonly type: 'stats'; readonly id: string; readonly at: number; readonly reply: Reply<StatsResult> }
  | { readonly type: 'tick'; readonly at: number }
  | { readonly type: 'describe'; readonly after?: number; readonly limit?: number; readonly reply: Reply<RegistryDescription> }
  /** A campaign's state recovered from disk (the child's own state; the registry reads only its info). */
  | { readonly type: 'campaign.restore'; readonly state: { readonly info: CampaignInfo } }
  | { readonly type: 'campaign.capture'; readonly id: string; readonly reply: Reply<CampaignImage | undefined> }
  | { readonly type: 'shutdown' }
  | { readonly type: 'campaign.forward'; readonly id: string; readonly at: number; readonly message: (reply: Reply<any>) => AnalyticsEvent; readonly reply: Reply<ForwardResult> }
  /** The shared store's answer to a lookup (`found` absent when it could not answer); sent by the registry to itself. */
  | { readonly type: 'campaign.found'; readonly ids: readonly string[]; readonly found: readonly (CampaignInfo | undefined)[] | undefined }
  | { readonly type: `xstate.error.actor.${string}`; readonly error: unknown; readonly actorId: string };

/**
 * The answer to a forwarded analytics message: the campaign's reply, or why there is none
 * (`unsupported`: figures a remote store does not keep).
 */
export type ForwardResult =
  | { readonly value: unknown }
  | { readonly error: 'not_found' }
  | { readonly error: 'unsupported' }
  | { readonly error: 'unavailable'; readonly retryAfterMs: number };

/** A campaign as the registry knows it. `ref` is absent while the campaign is suspended. */
interface Entry {
  readonly info: CampaignInfo;
  ref: ChildRef<unknown> | undefined;
  /** The state a stopped campaign resumes from (its child's, opaque here); undefined while it runs. */
  parked: unknown;
  suspendedUntil: number;
  /** Times of recent restarts, oldest first, trimmed to the intensity window. */
  restartTimes: number[];
  restarts: number;
  /** Crashes per item key (bounded), and the items found to be poison. */
  readonly crashes: Map<string, number>;
  readonly poison: Set<string>;
}

interface RegistryState {
  readonly input: RegistryInput;
  readonly campaigns: Map<string, Entry>;
  /** Campaigns in creation order, for paging and round-robin sweeps. */
  readonly order: Entry[];
  sweepCursor: number;
  /** The latest event time seen: the registry's only notion of "now" for supervision. */
  lastAt: number;
  /** With a remote store: ids being looked up, and what waits for each answer. */
  readonly lookups: Map<string, ((found: Found) => void)[]>;
  /** Ids to look up once the current event is handled, as one store call. */
  asking: string[];
}

/** What a campaign id turned out to be: its entry, no campaign, or unknown for now (the store did not answer). */
type Found = Entry | undefined | 'unavailable';

export type RegistrySnapshot = Snapshot<undefined> & {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly context: RegistryState;
};

type Scope = ActorScope<RegistrySnapshot, RegistryEvent, any, RegistryEmitted>;

const ACTOR_PREFIX = 'campaign:';
const ERROR_PREFIX = 'xstate.error.actor.';

/**
 * The registry actor: get-or-create owner of every campaign actor, router of impressions (one
 * message per campaign per batch), and their supervisor.
 */
export const registryLogic: ActorLogic<RegistrySnapshot, RegistryEvent, RegistryInput, any, RegistryEmitted> = {
  getInitialSnapshot: (_scope, input) => ({
    status: 'active',
    output: undefined,
    error: undefined,
    context: { input, campaigns: new Map(), order: [], sweepCursor: 0, lastAt: 0, lookups: new Map(), asking: [] },
  }),

  transition(snapshot, event, scope) {
    const state = snapshot.context;
    switch (event.type) {
      case 'campaign.create': {
        const { records } = state.input.child;
        if (records !== undefined) {
          const { self } = scope;
          const { reply } = event;
          records.create(event.info).then(
            (info) => self.send({ type: 'campaign.recorded', info, reply }),
            (failed: unknown) => reply({ failed }),
          );
          return snapshot;
        }
        const existing = state.campaigns.get(event.info.id);
        if (existing !== undefined) {
          event.reply(existing.info);
          return snapshot;
        }
        const refused = state.input.budget?.campaignRefusal();
        if (refused !== undefined) {
          event.reply({ refused });
          return snapshot;
        }
        const entry = register(state, event.info);
        entry.ref = spawn(scope, entry, undefined, state.input);
        state.input.journal?.created(event.info);
        event.reply(entry.info);
        return snapshot;
      }
      case 'campaign.restore': {
        const { child } = state.input;
        const entry = state.campaigns.get(event.state.info.id) ?? register(state, event.state.info);
        if (entry.ref !== undefined) {
          child.release(entry.ref.getSnapshot().context);
          scope.stopChild(entry.ref);
        }
        child.adopt(event.state, childInput(entry, state.input));
        entry.ref = spawn(scope, entry, event.state, state.input);
        return snapshot;
      }
      case 'campaign.capture': {
        const entry = state.campaigns.get(event.id);
        // A suspended campaign's parked state belongs to the registry until it resumes.
        if (entry?.ref !== undefined) entry.ref.send({ type: 'capture', reply: event.reply });
        else event.reply(entry?.parked === undefined ? undefined : state.input.child.capture(entry.parked));
        return snapshot;
      }
      case 'campaign.recorded': {
        const entry = state.campaigns.get(event.info.id) ?? register(state, event.info);
        entry.ref ??= spawn(scope, entry, undefined, state.input);
        event.reply(entry.info);
        return snapshot;
      }
      case 'campaign.get': {
        const { records } = state.input.child;
        const { reply } = event;
        // The store is asked even for campaigns with an actor here: it may refuse (it lost its data).
        if (records !== undefined) records.get(event.id).then(reply, (failed: unknown) => reply({ failed }));
        else reply(state.campaigns.get(event.id)?.info);
        return snapshot;
      }
      case 'campaign.list': {
        const { records } = state.input.child;
        const { reply } = event;
        // This registry has only the campaigns this node has seen: the store lists them all.
        if (records !== undefined) {
          records.list(event.after, event.limit).then(reply, (failed: unknown) => reply({ failed }));
          return snapshot;
        }
        const end = event.after + event.limit;
        event.reply({
          campaigns: state.order.slice(event.after, end).map((e) => e.info),
          next: end < state.order.length ? end : undefined,
        });
        return snapshot;
      }
      case 'impressions':
        state.lastAt = Math.max(state.lastAt, event.at);
        ingest(state, scope, event.items, event.at, event.reply);
        lookUp(state, scope);
        return snapshot;
      case 'stats': {
        state.lastAt = Math.max(state.lastAt, event.at);
        const { at, reply } = event;
        withEntry(state, event.id, (entry) => {
          if (entry === 'unavailable') return reply({ error: 'unavailable', retryAfterMs: LOOKUP_RETRY_MS });
          if (entry === undefined) return reply({ error: 'not_found' });
          const ref = live(state, scope, entry);
          const unavailable = (): void => reply({ error: 'unavailable', retryAfterMs: retryAfter(state, entry) });
          if (ref === undefined) unavailable();
          else ref.send({ type: 'stats', at, reply: (s) => (s === undefined ? unavailable() : reply(s === 'not_found' ? { error: s } : s)) });
        });
        lookUp(state, scope);
        return snapshot;
      }
      case 'campaign.found':
        settleLookups(state, scope, event.ids, event.found);
        return snapshot;
      case 'tick':
        state.lastAt = Math.max(state.lastAt, event.at);
        sweep(state, scope, event.at);
        return snapshot;
      case 'describe':
        event.reply(describe(state, event.after, event.limit));
        return snapshot;
      case 'shutdown':
        for (const entry of state.order) if (entry.ref) scope.stopChild(entry.ref);
        return snapshot;
      case 'campaign.forward':
        state.lastAt = Math.max(state.lastAt, event.at);
        forward(state, scope, event);
        lookUp(state, scope);
        return snapshot;
      default:
        if (event.type.startsWith(ERROR_PREFIX)) supervise(state, scope, event.actorId, event.error);
        return snapshot;
    }
  },

  getPersistedSnapshot: (snapshot) => snapshot,
};

export type RegistryRef = ActorRefFrom<typeof registryLogic>;

function register(state: RegistryState, info: CampaignInfo): Entry {
  const entry: Entry = {
    info,
    ref: undefined,
    parked: undefined,
    suspendedUntil: 0,
    restartTimes: [],
    restarts: 0,
    crashes: new Map(),
    poison: new Set(),
  };
  state.campaigns.set(info.id, entry);
  state.order.push(entry);
  if (state.input.child.records === undefined) state.input.budget?.campaignAdded();
  return entry;
}

function childInput(entry: Entry, input: RegistryInput): CampaignInput {
  const holdsState = input.child.records === undefined;
  return { info: entry.info, ttlMs: input.ttlMs, journal: input.journal, analytics: input.analytics, budget: holdsState ? input.budget : undefined };
}

/** Starts a campaign's actor: new, or taking over `from` (a crashed or stopped actor's state, or one recovered). */
function spawn(scope: Scope, entry: Entry, from: unknown, input: RegistryInput): ChildRef<unknown> {
  return input.child.spawn(scope.self as AnyActorRef, ACTOR_PREFIX + entry.info.id, childInput(entry, input), from);
}

/**
 * Calls `then` with a campaign's entry: at once when the registry has it (or holds every campaign
 * itself), else, with a remote store, once the store has said whether the id names a campaign
 * (looked up by `lookUp` at the end of the event). Only then is an actor made for it, so an id that
 * names nothing never costs an actor, whether the store answered `no` or did not answer at all.
 */
function withEntry(state: RegistryState, id: string, then: (found: Found) => void): void {
  const entry = state.campaigns.get(id);
  if (entry !== undefined || state.input.child.records === undefined) return then(entry);
  const waiting = state.lookups.get(id);
  if (waiting !== undefined) {
    waiting.push(then);
    return;
  }
  if (state.lookups.size >= MAX_PENDING_LOOKUPS) return then('unavailable');
  state.lookups.set(id, [then]);
  state.asking.push(id);
}

/** Asks the store about the ids gathered while handling this event, in one call. */
function lookUp(state: RegistryState, scope: Scope): void {
  const { records } = state.input.child;
  if (records === undefined || state.asking.length === 0) return;
  const ids = state.asking;
  state.asking = [];
  const self = scope.self;
  records.find(ids).then(
    (found) => self.send({ type: 'campaign.found', ids, found }),
    () => self.send({ type: 'campaign.found', ids, found: undefined }),
  );
}

function settleLookups(state: RegistryState, scope: Scope, ids: readonly string[], found: readonly (CampaignInfo | undefined)[] | undefined): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const waiting = state.lookups.get(id) ?? [];
    state.lookups.delete(id);
    let entry: Found;
    if (found === undefined || found.length !== ids.length) entry = 'unavailable';
    else {
      const info = found[i];
      entry = info === undefined ? undefined : (state.campaigns.get(id) ?? made(state, scope, info));
    }
    for (const then of waiting) then(entry);
  }
  lookUp(state, scope);
}

/** An entry and actor for a campaign the store has. */
function made(state: RegistryState, scope: Scope, info: CampaignInfo): Entry {
  const entry = register(state, info);
  entry.ref = spawn(scope, entry, undefined, state.input);
  return entry;
}

/** Drops idle remote actors whose campaign the store does not have, so unknown ids cannot pile up actors. */
function retireMissing(state: RegistryState, scope: Scope, retirable: (childState: unknown) => boolean): void {
  for (let i = state.order.length - 1; i >= 0; i--) {
    const entry = state.order[i];
    if (entry.ref === undefined || !retirable(entry.ref.getSnapshot().context)) continue;
    scope.stopChild(entry.ref);
    state.campaigns.delete(entry.info.id);
    state.order.splice(i, 1);
  }
}

/** The running actor of a campaign, resuming a suspended one whose window has passed. */
function live(state: RegistryState, scope: Scope, entry: Entry): ChildRef<unknown> | undefined {
  if (entry.ref === undefined && entry.parked !== undefined && state.lastAt >= entry.suspendedUntil) {
    entry.ref = spawn(scope, entry, entry.parked, state.input);
    entry.parked = undefined;
  }
  return entry.ref;
}

function retryAfter(state: RegistryState, entry: Entry): number {
  return Math.max(1000, entry.suspendedUntil - state.lastAt);
}

/**
 * Routes a batch: one message per campaign, each answering through `done`. The reply goes out once
 * every campaign has answered (synchronously for in-memory campaigns).
 */
function ingest(state: RegistryState, scope: Scope, items: readonly Impression[], at: number, reply: Reply<IngestResult>): void {
  // Until a campaign answers, its items stand as `unavailable`: a crash mid-batch leaves exactly the
  // items it did not finish marked so.
  const outcomes: Outcome[] = new Array<Outcome>(items.length).fill('unavailable');
  let retryAfterMs = 0;
  let pending = 1;
  const finish = (): void => {
    if (--pending === 0) reply({ outcomes, retryAfterMs });
  };
  const route = (entry: Found, group: readonly Impression[], indices: readonly number[]): void => {
    if (entry === 'unavailable') {
      retryAfterMs = Math.max(retryAfterMs, LOOKUP_RETRY_MS);
      return;
    }
    if (entry === undefined) {
      for (const i of indices) outcomes[i] = 'not_found';
      return;
    }
    const ref = live(state, scope, entry);
    if (ref === undefined) {
      retryAfterMs = Math.max(retryAfterMs, retryAfter(state, entry));
      return;
    }
    if (entry.poison.size > 0) {
      const keep = indices.filter((i) => !entry.poison.has(itemKey(items[i])));
      if (keep.length < indices.length) {
        for (const i of indices) if (!keep.includes(i)) outcomes[i] = 'dead_letter';
        if (keep.length === 0) return;
        group = keep.map((i) => items[i]);
        indices = keep;
      }
    }
    pending++;
    const done = (): void => {
      if (indices.some((i) => outcomes[i] === 'unavailable')) retryAfterMs = Math.max(retryAfterMs, retryAfter(state, entry));
      finish();
    };
    ref.send({ type: 'impressions', at, items: group, indices, out: outcomes, done });
  };
  const routeWhenFound = (id: string, group: readonly Impression[], indices: readonly number[]): void => {
    pending++;
    withEntry(state, id, (entry) => {
      route(entry, group, indices);
      finish();
    });
  };
  if (items.length === 1) {
    routeWhenFound(items[0].campaignId, items, SINGLE);
  } else {
    const groups = new Map<string, { items: Impression[]; indices: number[] }>();
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      let group = groups.get(item.campaignId);
      if (group === undefined) groups.set(item.campaignId, (group = { items: [], indices: [] }));
      group.items.push(item);
      group.indices.push(i);
    }
    for (const [id, group] of groups) routeWhenFound(id, group.items, group.indices);
  }
  finish();
}

const SINGLE: readonly number[] = [0];

function supervise(state: RegistryState, scope: Scope, actorId: string, error: unknown): void {
  const { child, supervision: limits } = state.input;
  const entry = state.campaigns.get(actorId.slice(ACTOR_PREFIX.length));
  const dead = entry?.ref;
  const now = state.lastAt;
  const crashed = dead?.id === actorId ? dead.getSnapshot().context : undefined;
  const failure = { supervised: entry !== undefined && crashed !== undefined, interrupted: crashed !== undefined && child.interrupted(crashed), at: now };
  const decision: SupervisionDecision = decide(failure, { restarts: entry?.restartTimes ?? [], limits });
  if (decision === 'escalate' || entry === undefined) throw error;
  entry.ref = undefined;
  entry.restarts++;
  entry.restartTimes = entry.restartTimes.filter((t) => now - t < limits.windowMs);
  entry.restartTimes.push(now);
  if (decision === 'stop') {
    entry.parked = crashed;
    entry.suspendedUntil = now + limits.windowMs;
  } else {
    entry.ref = spawn(scope, entry, crashed, state.input);
  }
  const item = child.recover(crashed);
  if (item !== undefined) {
    const key = itemKey(item);
    const crashes = (entry.crashes.get(key) ?? 0) + 1;
    if (entry.crashes.size >= CRASH_MEMORY) entry.crashes.clear();
    entry.crashes.set(key, crashes);
    if (crashes >= POISON_AFTER_CRASHES && entry.poison.size < CRASH_MEMORY) {
      entry.poison.add(key);
      scope.emit({ type: 'dead_letter', campaignId: entry.info.id, impression: item, error });
    }
  }
  scope.emit({
    type: 'supervision',
    campaignId: entry.info.id,
    decision,
    error,
    restartsInWindow: entry.restartTimes.length,
  });
}

/** What makes two deliveries "the same impression" for poison detection. */
function itemKey(item: Impression): string {
  return `${item.userId}\u0000${item.adId}\u0000${item.impressionId ?? ''}`;
}

/** Reclaims expired dedupe entries, round-robin over campaigns, within the tick's slot budget. */
function sweep(state: RegistryState, scope: Scope, at: number): void {
  const { retirable } = state.input.child;
  if (retirable !== undefined) retireMissing(state, scope, retirable);
  const { order } = state;
  let budget = state.input.sweepBudget;
  for (let visited = 0; visited < order.length && budget > 0; visited++) {
    if (state.sweepCursor >= order.length) state.sweepCursor = 0;
    const entry = order[state.sweepCursor++];
    const ref = live(state, scope, entry);
    // A visit costs at least a little budget so that thousands of empty campaigns cannot stall a tick.
    let scanned = 16;
    ref?.send({ type: 'sweep', at, budget, reply: (n) => (scanned += n) });
    budget -= scanned;
  }
}

/**
 * Describes the campaigns in creation positions `[after, after + limit)`: each one's actor is asked,
 * so a caller walking thousands of campaigns pages through them rather than pausing everything.
 */
function describe(state: RegistryState, after = 0, limit = Infinity): RegistryDescription {
  const { child } = state.input;
  const children: SupervisedCampaign[] = [];
  let suspended = 0;
  let restarts = 0;
  for (const entry of state.order) {
    restarts += entry.restarts;
    if (entry.ref === undefined) suspended++;
  }
  const end = Math.min(state.order.length, after + limit);
  for (let i = after; i < end; i++) {
    const entry = state.order[i];
    const supervision = { actorId: ACTOR_PREFIX + entry.info.id, restarts: entry.restarts };
    if (entry.ref === undefined) {
      const parked = entry.parked === undefined ? { id: entry.info.id, total: 0, dedupeEntries: 0, bytes: 0 } : child.describe(entry.parked);
      children.push({ ...parked, ...supervision, suspended: true });
      continue;
    }
    entry.ref.send({ type: 'describe', reply: (d) => children.push({ ...d, ...supervision, suspended: false }) });
  }
  return { campaigns: state.order.length, suspended, restarts, children, next: end < state.order.length ? end : undefined };
}

/** Hands an analytics message (ads, clicks, reads) to its campaign's actor and relays the reply. */
function forward(state: RegistryState, scope: Scope, event: Extract<RegistryEvent, { type: 'campaign.forward' }>): void {
  withEntry(state, event.id, (entry) => {
    if (entry === 'unavailable') return event.reply({ error: 'unavailable', retryAfterMs: LOOKUP_RETRY_MS });
    if (entry === undefined) return event.reply({ error: 'not_found' });
    const ref = live(state, scope, entry);
    const unavailable = (): void => event.reply({ error: 'unavailable', retryAfterMs: retryAfter(state, entry) });
    if (ref === undefined) return unavailable();
    ref.send(
      event.message((value: unknown) => {
        if (value === undefined) unavailable();
        else if (value === CHILD_NOT_FOUND) event.reply({ error: 'not_found' });
        else if (value === CHILD_UNSUPPORTED) event.reply({ error: 'unsupported' });
        else event.reply({ value });
      }),
    );
  });
}
