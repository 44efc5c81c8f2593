import { createActor, type ActorLogic, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { CHILD_NOT_FOUND, CHILD_UNSUPPORTED, type CampaignChild, type CampaignDescription, type CampaignInfo, type CampaignRecords, type CampaignStore, type ImpressionGroup, type CampaignEvent, type CampaignInput, type ChildSnapshot, type ImpressionsEvent, type Outcome, type Reply, type Stats } from '../protocol.js';

export interface RemoteCampaignOptions {
  readonly store: CampaignStore;
  /** Most items sent in one store call; messages are never split, so one large batch may exceed it. */
  readonly maxItemsPerCall: number;
  /** Items waiting behind the call in flight beyond which new messages are answered `unavailable` at once. */
  readonly maxQueuedItems: number;
}

/**
 * A remote campaign actor's state: only what is on its way to or from the store. `calling` holds
 * the messages whose items the store is applying now; `queue` those that arrived meanwhile.
 */
export interface RemoteCampaignState {
  readonly id: string;
  calling: ImpressionsEvent[] | undefined;
  queue: ImpressionsEvent[];
  queuedItems: number;
  /** Stats reads in flight. Reads are not serialized: each is a consistent snapshot on its own. */
  reads: number;
  /** The store's latest answer said the campaign does not exist. */
  missing: boolean;
}

export type RemoteCampaignSnapshot = ChildSnapshot<RemoteCampaignState>;

/** What the store answered, delivered back to the actor as a message so that state changes stay in its mailbox. */
export type RemoteResultEvent =
  | { readonly type: 'remote.ingested'; readonly outcomes: Outcome[] | undefined }
  | { readonly type: 'remote.stats'; readonly result: Stats | 'not_found' | undefined; readonly reply: Reply<Stats | 'not_found' | undefined> }
  | { readonly type: 'remote.read'; readonly missing: boolean | undefined; readonly answer: () => void };

export type RemoteCampaignEvent = CampaignEvent | RemoteResultEvent;

/** The remote campaign's logic, which is also the registry's child (see CampaignChild). */
export type RemoteCampaignLogic = ActorLogic<RemoteCampaignSnapshot, RemoteCampaignEvent, CampaignInput> &
  CampaignChild<RemoteCampaignState> & { readonly records: CampaignRecords; retirable(state: RemoteCampaignState): boolean };

/**
 * Campaign actor for a shared store (STORE=redis). It keeps each campaign's work serialized per
 * node like the in-memory actor, but its state lives in the store: while one `ingest` call is in
 * flight, further `impressions` messages wait and then go as one call, so a busy campaign costs
 * one round trip per batch of waiting messages rather than one per message. A failed call answers
 * its items `unavailable`; the store makes a retry safe (a user already counted is a duplicate).
 */
export function remoteCampaignLogic(options: RemoteCampaignOptions): RemoteCampaignLogic {
  const { store, maxItemsPerCall, maxQueuedItems } = options;

  /** Sends every waiting message (up to `maxItemsPerCall` items) as one store call. */
  function call(state: RemoteCampaignState, self: AnyActorRef): void {
    const batch: ImpressionsEvent[] = [];
    let items = 0;
    while (state.queue.length > 0 && (batch.length === 0 || items + state.queue[0].items.length <= maxItemsPerCall)) {
      const next = state.queue.shift() as ImpressionsEvent;
      batch.push(next);
      items += next.items.length;
    }
    state.queuedItems -= items;
    state.calling = batch;
    const groups = batch.map((m): ImpressionGroup => ({ at: m.at, items: m.items }));
    attempt(() => store.ingest(state.id, groups)).then(
      (outcomes) => self.send({ type: 'remote.ingested', outcomes }),
      () => self.send({ type: 'remote.ingested', outcomes: undefined }),
    );
  }

  const logic: RemoteCampaignLogic = {
    records: {
      create: (info) => attempt(() => store.create(info)),
      get: (id) => attempt(() => store.get(id)),
      list: (after, limit) => attempt(() => store.list(after, limit)),
      // One cheap call says which ids exist, so that a flood of unknown ids costs no per-id reads.
      find: (ids) =>
        attempt(() => store.exists(ids)).then((found) => Promise.all(ids.map((id, i): Promise<CampaignInfo | undefined> | undefined => (found[i] ? store.get(id) : undefined)))),
    },

    spawn(parent, id, input, from) {
      const ref = createActor(logic, { parent, id, systemId: id, input, snapshot: from && active(from) });
      ref.start();
      return ref;
    },
    // Nothing is applied here: the store applies each call atomically.
    interrupted: () => false,
    recover(state) {
      abandon(state);
      return undefined;
    },
    describe: describeState,
    // Snapshots are for in-memory state; a remote campaign's state is in the store.
    capture: () => undefined,
    adopt: () => undefined,
    release: () => undefined,
    retirable: (state) => state.missing && state.calling === undefined && state.queue.length === 0 && state.reads === 0,

    getInitialSnapshot: (_scope, input) =>
      active({ id: input.info.id, calling: undefined, queue: [], queuedItems: 0, reads: 0, missing: false }),

    transition(snapshot, event, scope) {
      const state = snapshot.context;
      switch (event.type) {
        case 'impressions':
          if (state.calling !== undefined && state.queuedItems + event.items.length > maxQueuedItems) {
            answer(event, undefined, 0); // over the bound: refuse now rather than queue without limit
            return snapshot;
          }
          state.queue.push(event);
          state.queuedItems += event.items.length;
          if (state.calling === undefined) call(state, scope.self);
          return snapshot;
        case 'remote.ingested': {
          const batch = state.calling ?? [];
          state.calling = undefined;
          if (event.outcomes !== undefined) state.missing = event.outcomes[0] === 'not_found';
          let offset = 0;
          for (const message of batch) offset = answer(message, event.outcomes, offset);
          if (state.queue.length > 0) call(state, scope.self);
          return snapshot;
        }
        case 'stats': {
          const { reply, at } = event;
          const self = scope.self;
          state.reads++;
          attempt(() => store.stats(state.id, at)).then(
            (result) => self.send({ type: 'remote.stats', result, reply }),
            () => self.send({ type: 'remote.stats', result: undefined, reply }),
          );
          return snapshot;
        }
        case 'remote.stats':
          state.reads--;
          if (event.result !== undefined) state.missing = event.result === 'not_found';
          event.reply(event.result);
          return snapshot;
        case 'clicks': {
          const { items, now, out, reply } = event;
          const clicks = store.clicks?.bind(store);
          if (clicks === undefined) {
            unsupported(reply);
            return snapshot;
          }
          read(state, scope.self, () => clicks(state.id, items, now), (outcomes) => {
            if (outcomes === undefined) return { missing: undefined, answer: () => reply(undefined) };
            outcomes.forEach((o, k) => (out[k] = o));
            return { missing: outcomes[0] === 'not_found', answer: () => reply(out) };
          });
          return snapshot;
        }
        case 'analytics': {
          const { at, span, byAd, reply } = event;
          const analytics = store.analytics?.bind(store);
          if (analytics === undefined) {
            unsupported(reply);
            return snapshot;
          }
          read(state, scope.self, () => analytics(state.id, at, span, byAd), (report) => ({
            missing: report === undefined ? undefined : report === 'not_found',
            answer: () => (reply as Reply<unknown>)(report === 'not_found' ? CHILD_NOT_FOUND : report),
          }));
          return snapshot;
        }
        case 'ads.register':
        case 'ads.list':
        case 'ads.totals':
        case 'series': {
          const reply = event.reply as Reply<unknown>;
          const run =
            event.type === 'ads.register'
              ? store.registerAd && ((): Promise<unknown> => (store.registerAd as NonNullable<CampaignStore['registerAd']>)(state.id, event.ad))
              : event.type === 'ads.list'
                ? store.listAds && ((): Promise<unknown> => (store.listAds as NonNullable<CampaignStore['listAds']>)(state.id, event.after, event.limit))
                : event.type === 'ads.totals'
                  ? store.adTotals && ((): Promise<unknown> => (store.adTotals as NonNullable<CampaignStore['adTotals']>)(state.id, event.at, event.span, event.before))
                  : store.series && ((): Promise<unknown> => (store.series as NonNullable<CampaignStore['series']>)(state.id, event.at, event.query));
          if (run === undefined) {
            unsupported(reply);
            return snapshot;
          }
          read(state, scope.self, run, (result) => ({
            missing: result === undefined ? undefined : result === 'not_found',
            answer: () => reply(result === 'not_found' ? CHILD_NOT_FOUND : result),
          }));
          return snapshot;
        }
        case 'remote.read':
          state.reads--;
          if (event.missing !== undefined) state.missing = event.missing;
          event.answer();
          return snapshot;
        case 'sweep':
          event.reply(0); // nothing to reclaim here: the store expires its own keys
          return snapshot;
        case 'describe':
          event.reply(describeState(state));
          return snapshot;
        case 'capture':
          // Snapshots are for in-memory state; a remote campaign's state is in the store.
          return snapshot;
        default:
          // Nothing else is asked of a campaign actor; a store without some call answers 501.
          // (Also xstate's own events, which have no reply.)
          (event as { reply?: Reply<unknown> }).reply?.(CHILD_UNSUPPORTED);
          return snapshot;
      }
    },

    getPersistedSnapshot: (snapshot) => snapshot,

    // A supervisor restart: the results of calls made by the crashed actor would go to it and be
    // dropped, so everything it held is answered `unavailable` and the successor starts clean.
    restoreSnapshot: (persisted) => {
      const old = (persisted as RemoteCampaignSnapshot).context;
      abandon(old);
      return active({ id: old.id, calling: undefined, queue: [], queuedItems: 0, reads: 0, missing: false });
    },
  };
  return logic;
}

/** Answers every message a crashed actor held `unavailable`, once: its store calls' results would go to it and be dropped. */
function abandon(state: RemoteCampaignState): void {
  const held = [...(state.calling ?? []), ...state.queue];
  state.calling = undefined;
  state.queue = [];
  state.queuedItems = 0;
  for (const message of held) answer(message, undefined, 0);
}

function describeState(state: RemoteCampaignState): CampaignDescription {
  return { id: state.id, total: 0, dedupeEntries: 0, bytes: 0 };
}

/** Writes a message's outcomes from `outcomes` at `offset` (all `unavailable` without them), answers it, and returns the next offset. */
function answer(message: ImpressionsEvent, outcomes: readonly Outcome[] | undefined, offset: number): number {
  const { items, indices, out } = message;
  for (let k = 0; k < items.length; k++) out[indices[k]] = outcomes?.[offset + k] ?? 'unavailable';
  message.done();
  return offset + items.length;
}

/**
 * Starts a store read (not serialized: each is one atomic script) and delivers its result back to
 * the actor as a `remote.read` message, so state changes stay in its mailbox; `undefined` on failure.
 */
function read<T>(
  state: RemoteCampaignState,
  self: AnyActorRef,
  run: () => Promise<T>,
  settle: (result: T | undefined) => { missing: boolean | undefined; answer: () => void },
): void {
  state.reads++;
  attempt(run).then(
    (result) => self.send({ type: 'remote.read', ...settle(result) }),
    () => self.send({ type: 'remote.read', ...settle(undefined) }),
  );
}

function unsupported(reply: Reply<never>): void {
  (reply as Reply<unknown>)(CHILD_UNSUPPORTED);
}

/** Runs a store call so that a synchronous throw becomes a rejection. */
async function attempt<T>(run: () => Promise<T>): Promise<T> {
  return run();
}

function active(context: RemoteCampaignState): RemoteCampaignSnapshot {
  return { status: 'active', output: undefined, error: undefined, context };
}

export type RemoteCampaignRef = ActorRefFrom<RemoteCampaignLogic>;
