import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllChildren, REPO_ROOT } from './lib/children.js';
import { benchTreeCpuSeconds, machineBusySeconds } from './lib/cpu.js';
import { describeMachine, machineLine, type Machine } from './lib/machine.js';
import { PROFILE_WINDOWS, summarizeProfiles } from './lib/profile.js';
import { checkLines, markdownTable, noteLines, textTable } from './lib/report.js';
import type { BenchContext, Section } from './lib/types.js';
import { SCENARIOS } from './scenarios/index.js';

const USAGE = `Usage: npm run bench [-- options]

Starts what it needs on 127.0.0.1, runs the scenarios, prints each figure beside a baseline measured
in the same run, and writes bench/RESULTS.md. Exits non-zero if a correctness check fails.

Options:
  --quick          smaller workloads and shorter runs (well under a minute)
  --only a,b       run only these scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}
  --profile DIR    run the service under --cpu-prof (profiles in DIR) and print where its time went
                   (again later: node --import tsx bench/profile.ts DIR); figures are skewed by the
                   profiler, so RESULTS.md is not written
  --durability M   DURABILITY for the service (fsync, interval, off); default: the service's default
  --no-write       do not write bench/RESULTS.md
  -h, --help       this text
`;

const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      profile: { type: 'string' },
      durability: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const only = values.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}\n\n${USAGE}`);
    return 2;
  }
  const profileDir = values.profile === undefined ? undefined : isAbsolute(values.profile) ? values.profile : resolve(values.profile);
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });

  const quick = values.quick === true;
  const started = Date.now();
  const ctx: BenchContext = {
    quick,
    profileDir,
    profileWindows: [],
    durability: values.durability,
    log: (message) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}\n`),
  };
  // A safety net for hangs, not a budget (every child also has its own lifetime limit).
  const limitMs = (quick ? 4 : 15) * 60_000;
  setTimeout(() => {
    ctx.log(`bench exceeded ${limitMs / 1000} s; stopping everything`);
    killAllChildren();
    process.exit(1);
  }, limitMs).unref();

  const machine = describeMachine();
  const machineBusy0 = machineBusySeconds();
  const benchCpu0 = benchTreeCpuSeconds();
  ctx.log(`${quick ? 'quick' : 'full'} run on ${machineLine(machine)}`);
  const sections: Section[] = [];
  for (const scenario of SCENARIOS) {
    if (only !== undefined && !only.includes(scenario.id)) continue;
    try {
      sections.push(...(await scenario.run(ctx)));
    } catch (err) {
      ctx.log(`${scenario.id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      sections.push({
        title: scenario.title,
        figures: [],
        checks: [{ name: 'scenario ran to completion', ok: false, detail: gist(err) }],
      });
    }
  }
  const seconds = (Date.now() - started) / 1000;
  // The cores are shared: say how much of them other processes took while the bench ran.
  const otherCpu = Math.max(0, machineBusySeconds() - machineBusy0 - (benchTreeCpuSeconds() - benchCpu0));
  const contention = `other processes kept ${((100 * otherCpu) / (seconds * machine.cores)).toFixed(0)} % of the machine's CPU busy during the run`;

  const checks = checkLines(sections);
  const failed = sections.some((s) => s.checks.some((c) => !c.ok));
  process.stdout.write(`\n${textTable(sections)}\n\nCorrectness:\n${checks.map((l) => `  ${l}`).join('\n')}\n`);
  const notes = noteLines(sections);
  if (notes.length > 0) process.stdout.write(`\nNotes:\n${notes.map((l) => `  ${l}`).join('\n')}\n`);
  process.stdout.write(`\n${machineLine(machine)}; ${quick ? 'quick' : 'full'} run took ${seconds.toFixed(0)} s; ${contention}\n`);

  if (profileDir !== undefined) {
    writeFileSync(join(profileDir, PROFILE_WINDOWS), JSON.stringify({ sinceMs: started, windowsUs: ctx.profileWindows }));
    process.stdout.write(`\n${summarizeProfiles(profileDir, started, ctx.profileWindows)}\n`);
  } else if (!values['no-write']) {
    writeFileSync(RESULTS, resultsMarkdown(sections, machine, quick, seconds, only, values.durability, contention));
    ctx.log('wrote bench/RESULTS.md');
  }
  process.stdout.write(failed ? '\nCORRECTNESS FAILED\n' : '\nall correctness checks passed\n');
  return failed ? 1 : 0;
}

function resultsMarkdown(
  sections: readonly Section[],
  machine: Machine,
  quick: boolean,
  seconds: number,
  only: readonly string[] | undefined,
  durability: string | undefined,
  contention: string,
): string {
  const checks = checkLines(sections);
  const notes = noteLines(sections);
  return [
    '# Benchmark results',
    '',
    `Latest \`npm run bench${quick ? ' -- --quick' : ''}\`${only ? ` (only ${only.join(', ')})` : ''}, ${new Date().toISOString().slice(0, 10)}, ${seconds.toFixed(0)} s. ` +
      'Written by `bench/run.ts`; do not edit by hand.',
    '',
    '## Machine',
    '',
    `- CPU: ${machine.cpu}`,
    `- Cores: ${machine.cores}`,
    `- Memory: ${machine.memoryGiB} GiB`,
    `- Node: ${machine.node}`,
    `- OS: ${machine.os}`,
    `- Code: ${codeVersion()}`,
    '',
    `Service durability: ${durability ?? "the service's default"}. Every server, the load generator and the workers share`,
    `these cores; ${contention}. Baselines are measured in the same run, so the ratio column is the figure`,
    'to compare between runs and machines.',
    '',
    '## Figures',
    '',
    markdownTable(sections),
    '',
    '## Correctness',
    '',
    ...checks.map((l) => `- ${l}`),
    '',
    ...(notes.length > 0 ? ['## Notes', '', ...notes.map((l) => `- ${l}`), ''] : []),
  ].join('\n');
}

/** The commit measured, and whether the service's sources had uncommitted changes. */
function codeVersion(): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'src', 'actors', 'package.json') !== '';
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' plus uncommitted changes to the service' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** The gist of an error in one line (a child's exit and its last words). */
function gist(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n');
  return lines
    .map((l) => l.replace(/^\s*\|\s?/, '').trim())
    .filter((l) => l !== '')
    .slice(0, 2)
    .join(' ');
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
