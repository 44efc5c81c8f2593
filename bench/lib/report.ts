import { meets, type Figure, type Section, type Target } from './types.js';

/** One line of the results table. */
interface Row {
  section: string;
  figure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  result: string;
}

const HEADER: Row = { section: 'Scenario', figure: 'Figure', ours: 'Ours', baseline: 'Baseline (same run)', ratio: 'Ours/base', target: 'Target', result: 'Result' };
const COLUMNS: (keyof Row)[] = ['section', 'figure', 'ours', 'baseline', 'ratio', 'target', 'result'];
const RIGHT: ReadonlySet<keyof Row> = new Set(['ours', 'ratio']);

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  let text: string;
  if (unit === 'ms') text = value < 1 ? value.toFixed(3) : value < 10 ? value.toFixed(2) : value.toFixed(1);
  else if (Math.abs(value) >= 1e6) text = `${(value / 1e6).toFixed(2)}M`;
  else if (Math.abs(value) >= 1000) text = Math.round(value).toLocaleString('en-US');
  else if (Math.abs(value) >= 100) text = value.toFixed(0);
  else text = value.toFixed(1);
  return `${text} ${unit}`;
}

function targetText(t: Target, unit: string, ratio: boolean): string {
  const op = t.op === '>=' ? '≥' : '≤';
  return ratio ? `${op} ${t.value.toFixed(2)}×` : `${op} ${formatValue(t.value, unit)}`;
}

function verdict(value: number, t: Target): string {
  if (!Number.isFinite(value)) return 'n/a';
  return meets(value, t) ? 'PASS' : 'MISS';
}

function figureRows(section: string, f: Figure): Row[] {
  const rows: Row[] = [];
  const first = { section, figure: f.name, ours: formatValue(f.value, f.unit) };
  const blank = { section: '', figure: '', ours: '' };
  const none = { target: '', result: '' };
  const own = f.target ? { target: targetText(f.target, f.unit, false), result: verdict(f.value, f.target) } : none;
  const baselines = f.baselines ?? [];
  // Ours' own target shares the first baseline's row unless that baseline has a ratio target of its own.
  if (baselines.length === 0 || (f.target !== undefined && baselines[0].ratioTarget !== undefined)) {
    rows.push({ ...first, baseline: '', ratio: '', ...own });
  }
  for (const b of baselines) {
    const ratio = f.value / b.value;
    const judged = b.ratioTarget
      ? { target: `${targetText(b.ratioTarget, f.unit, true)} ${b.name}`, result: verdict(ratio, b.ratioTarget) }
      : rows.length === 0 ? own : none;
    rows.push({
      ...(rows.length === 0 ? first : blank),
      baseline: `${b.name} ${formatValue(b.value, f.unit)}`,
      ratio: Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'n/a',
      ...judged,
    });
  }
  return rows;
}

function rowsOf(sections: readonly Section[]): Row[] {
  const rows: Row[] = [];
  for (const s of sections) {
    s.figures.forEach((f, i) => rows.push(...figureRows(i === 0 ? s.title : '', f)));
  }
  return rows;
}

/** The table for a terminal: aligned columns. */
export function textTable(sections: readonly Section[]): string {
  const rows = [HEADER, ...rowsOf(sections)];
  const widths = COLUMNS.map((c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: Row): string =>
    COLUMNS.map((c, i) => (RIGHT.has(c) ? r[c].padStart(widths[i]) : r[c].padEnd(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(HEADER), rule, ...rows.slice(1).map(line)].join('\n');
}

/** The same table in Markdown. */
export function markdownTable(sections: readonly Section[]): string {
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  const line = (r: Row): string => `| ${COLUMNS.map((c) => cell(r[c])).join(' | ')} |`;
  const align = `|${COLUMNS.map((c) => (RIGHT.has(c) ? '---:' : '---')).join('|')}|`;
  return [line(HEADER), align, ...rowsOf(sections).map(line)].join('\n');
}

/** Correctness checks, one per line with ✓/✗. */
export function checkLines(sections: readonly Section[]): string[] {
  return sections.flatMap((s) => s.checks.map((c) => `${c.ok ? '✓' : '✗'} ${s.title}: ${c.name} (${c.detail})`));
}

export function noteLines(sections: readonly Section[]): string[] {
  return sections.flatMap((s) => (s.notes ?? []).map((n) => `${s.title}: ${n}`));
}
