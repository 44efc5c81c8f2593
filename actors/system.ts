import { createActor } from 'xstate';
import { campaignChild } from './campaign/campaign.js';
import type { Clock } from './counting/clock.js';
import type { CampaignChild } from './protocol.js';
import { registryLogic, type DeadLetterReport, type RegistryInput, type RegistryRef, type SupervisionReport } from './registry/registry.js';

export interface CounterSystemOptions extends Omit<RegistryInput, 'child'> {
  /** What the campaign actors are; by default they count in memory (campaign/). */
  readonly child?: CampaignChild;
  readonly clock: Clock;
  /** How often the one system ticker sweeps expired dedupe entries. */
  readonly tickMs: number;
  readonly onSupervision?: (report: SupervisionReport) => void;
  readonly onDeadLetter?: (report: DeadLetterReport) => void;
  /** Called if the registry itself fails; the caller decides whether to exit. */
  readonly onFatal?: (error: unknown) => void;
}

export interface CounterSystem {
  readonly registry: RegistryRef;
  readonly clock: Clock;
  /** Stops the ticker, every campaign actor and the registry. */
  stop(): void;
}

/** Starts the registry actor and the one ticker for the whole system. */
export function startCounterSystem(options: CounterSystemOptions): CounterSystem {
  const { clock, tickMs, onSupervision, onDeadLetter, onFatal, child = campaignChild, ...rest } = options;
  const registry = createActor(registryLogic, { input: { ...rest, child }, systemId: 'registry', id: 'registry' });
  // An unobserved error in a root actor would be rethrown from a timer and crash the process.
  registry.subscribe({ error: (err) => onFatal?.(err) });
  if (onSupervision) registry.on('supervision', onSupervision);
  if (onDeadLetter) registry.on('dead_letter', onDeadLetter);
  registry.start();

  const ticker = setInterval(() => registry.send({ type: 'tick', at: clock.now() }), tickMs);
  ticker.unref();

  return {
    registry,
    clock,
    stop() {
      clearInterval(ticker);
      registry.send({ type: 'shutdown' });
      registry.stop();
    },
  };
}
