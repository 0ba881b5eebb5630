import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../infra/constructs/project-paths.js';
import { round } from './stats.js';

/** Where the results live: latest.json (this run) and previous.json (the run before, for the ratios). */
export const RESULTS_DIR = join(PROJECT_ROOT, 'bench', 'results');
const LATEST = join(RESULTS_DIR, 'latest.json');
const PREVIOUS = join(RESULTS_DIR, 'previous.json');

/** Moves the last run's results to previous.json (at the start, so a failed run still compares with the last good one) and returns them. */
export function rotateResults(): Record<string, unknown> | undefined {
  mkdirSync(RESULTS_DIR, { recursive: true });
  if (existsSync(LATEST)) copyFileSync(LATEST, PREVIOUS);
  return existsSync(PREVIOUS) ? (JSON.parse(readFileSync(PREVIOUS, 'utf8')) as Record<string, unknown>) : undefined;
}

/** Every numeric leaf of a result object by its dotted path. */
export function flatten(value: unknown, prefix = ''): Record<string, number> {
  if (typeof value === 'number') return { [prefix]: value };
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.assign(
    {},
    ...Object.entries(value).map(([key, child]) => flatten(child, prefix ? `${prefix}.${key}` : key)),
  );
}

/** Each figure's ratio to the same figure of the previous results (only figures both runs have, and a non-zero previous value). */
export function ratios(
  results: Record<string, unknown>,
  previous: Record<string, unknown> | undefined,
): Record<string, number> {
  if (!previous) return {};
  const before = flatten(previous);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(flatten(results))) {
    const old = before[name];
    if (old !== undefined && old !== 0) out[name] = round(value / old);
  }
  return out;
}

const WIDTH = 64;
/** Sections that describe the run rather than measure anything. */
const NOT_FIGURES = new Set(['at', 'machine']);

/** A number as the table shows it: integers as they are, others to six significant digits. */
const show = (figure: number): string =>
  Number.isInteger(figure) ? String(figure) : String(Number(figure.toPrecision(6)));
/** A ratio to the previous run, flagged when it moved by half or more. */
const showRatio = (r: number | undefined): string =>
  r === undefined ? '' : `×${r.toFixed(2)}${r >= 1.5 || r <= 0.67 ? '!' : ''}`;

/**
 * Rows that are alike (at least 3 objects of numbers with the same few keys, e.g. one per bundle or
 * per fan-out) are printed as one line each with a column per key instead of one line per number.
 */
function matrixOf(value: unknown): { columns: string[]; rows: [string, Record<string, number>][] } | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Record<string, unknown>).map(
    ([name, row]) => [name, flatten(row)] as [string, Record<string, number>],
  );
  if (entries.length < 3) return undefined;
  const columns = Object.keys(entries[0]![1]);
  const alike = entries.every(([, row]) => Object.keys(row).join() === columns.join());
  return alike && columns.length >= 2 && columns.length <= 5 ? { columns, rows: entries } : undefined;
}

/** The table: one line per figure, grouped by section, with the ratio to the previous run. */
export function formatTable(results: Record<string, unknown>, previous: Record<string, unknown> | undefined): string {
  const ratio = ratios(results, previous);
  const before = previous ? flatten(previous) : {};
  const lines: string[] = [`${'figure'.padEnd(WIDTH)} ${'value'.padStart(12)}${previous ? '  vs previous' : ''}`];
  const walk = (value: unknown, path: string, label: string): void => {
    if (typeof value === 'number') {
      lines.push(`${label.padEnd(WIDTH)} ${show(value).padStart(12)}  ${showRatio(ratio[path])}`.trimEnd());
      return;
    }
    const matrix = matrixOf(value);
    if (matrix) {
      // Each cell shows the previous run's figure beside this one's (previous → now ×ratio), so a
      // row (one bundle, one fan-out) reads as its own before and after.
      const text = matrix.rows.map(([name, row]) =>
        matrix.columns.map((c) => {
          const key = `${path}.${name}.${c}`;
          const old = before[key];
          return `${old === undefined ? '' : `${show(old)} → `}${show(row[c]!)} ${showRatio(ratio[key])}`.trimEnd();
        }),
      );
      const cell = Math.max(20, ...text.flat().map((t) => t.length + 2), ...matrix.columns.map((c) => c.length + 2));
      lines.push(`${label.padEnd(WIDTH - 20)}${matrix.columns.map((c) => c.padStart(cell)).join('')}`);
      for (const [index, [name]] of matrix.rows.entries())
        lines.push(`  ${name.padEnd(WIDTH - 22)}${text[index]!.map((t) => t.padStart(cell)).join('')}`);
      return;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`, label ? `${label}.${key}` : key);
  };
  for (const [section, value] of Object.entries(results)) {
    if (NOT_FIGURES.has(section) || Object.keys(flatten(value)).length === 0) continue;
    lines.push(`── ${section} ${'─'.repeat(Math.max(0, WIDTH + 10 - section.length))}`);
    if (typeof value === 'number') walk(value, section, section);
    else
      for (const [key, child] of Object.entries(value as Record<string, unknown>))
        walk(child, `${section}.${key}`, key);
  }
  return lines.join('\n');
}

/** Writes bench/results/latest.json. */
export function writeResults(results: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(LATEST, `${JSON.stringify(results, null, 2)}\n`);
  return LATEST;
}
