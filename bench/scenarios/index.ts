import type { Scenario } from '../lib/types.js';
import { auth } from './auth.js';
import { batch } from './batch.js';
import { durability } from './durability.js';
import { hostileHttp } from './hostile-http.js';
import { inproc } from './inproc.js';
import { memory } from './memory.js';
import { observability } from './observability.js';
import { redis } from './redis.js';
import { single } from './single.js';
import { stats } from './stats.js';

/** Every scenario, in the order they run. Add new ones here (see lib/types.ts, `Scenario`). */
export const SCENARIOS: readonly Scenario[] = [single, batch, inproc, memory, stats, observability, redis, durability, hostileHttp, auth];
