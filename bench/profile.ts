import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE_WINDOWS, summarizeProfiles } from './lib/profile.js';

/**
 * Prints where the service's time went, from the profiles `npm run bench -- --profile DIR` left in
 * DIR (only the measured windows, when the bench recorded them). Usage: node --import tsx bench/profile.ts DIR [top]
 */
const [dir, top] = process.argv.slice(2);
if (dir === undefined) {
  process.stderr.write('usage: node --import tsx bench/profile.ts DIR [top]\n');
  process.exit(2);
}
const windowsFile = join(dir, PROFILE_WINDOWS);
const { sinceMs, windowsUs } = existsSync(windowsFile)
  ? (JSON.parse(readFileSync(windowsFile, 'utf8')) as { sinceMs: number; windowsUs: [number, number][] })
  : { sinceMs: 0, windowsUs: [] };
process.stdout.write(`${summarizeProfiles(dir, sinceMs, windowsUs, top === undefined ? 25 : Number(top))}\n`);
