/**
 * Loaded with `--import` before src/main.ts by the process-level dead-letter spec: makes every
 * campaign actor throw while admitting the user named by POISON_USER, so a real server can be
 * shown to set that impression aside instead of crash-looping. Does nothing without the variable.
 */
import { DedupeTable } from '../../actors/counting/dedupe.js';
import { hash128 } from '../../actors/counting/hash128.js';

const user = process.env.POISON_USER;
if (user !== undefined && user !== '') {
  const target = new Uint32Array(4);
  hash128(user, target);
  const admit = DedupeTable.prototype.admitDigest;
  DedupeTable.prototype.admitDigest = function (this: DedupeTable, d: Uint32Array, at: number): boolean {
    if (d[0] === target[0] && d[1] === target[1] && d[2] === target[2] && d[3] === target[3]) {
      throw new Error(`poison impression for ${user} (test preload)`);
    }
    return admit.call(this, d, at);
  };
}
