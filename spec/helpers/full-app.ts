import type { Clock } from '../../actors/counting/clock.js';
import { KeyRing, MemoryKeyStore } from '../../src/auth/keys.js';
import { Inspector } from '../../src/inspector.js';
import { startTestApp, type TestApp, type TestAppOptions } from './app.js';

export const FULL_ADMIN_KEY = 'full-app-admin-key-0123456789abcdefghij';
export const FULL_BEACON_SECRET = 'full-app-beacon-secret-0123456789abcdef';

/** A clock that stands still until a test moves it. */
export class FixedClock implements Clock {
  constructor(public at: number) {}
  now(): number {
    return this.at;
  }
}

/**
 * The app with every route of the route table served (API keys, signed beacons, the inspector, a
 * Redis admin stub) and ADMIN_KEY set; `request` sends the admin key unless given another.
 */
export function startFullApp(options: TestAppOptions = {}): Promise<TestApp> {
  return startTestApp({
    key: FULL_ADMIN_KEY,
    ...options,
    deps: (system, counter) => ({
      keys: new KeyRing(new MemoryKeyStore(), FULL_ADMIN_KEY),
      beaconSecret: FULL_BEACON_SECRET,
      inspector: new Inspector({ system: system.registry.system }),
      redisAdmin: { acceptReset: () => Promise.resolve({ accepted: false, epoch: undefined, repairedSlots: 0 }) },
      ...options.deps?.(system, counter),
    }),
  });
}
