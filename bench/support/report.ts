/**
 * How a benchmark reports: medians, the ratio to the baseline measured in the same run, a plain
 * text table, the one summary line per metric that `scripts/bench` repeats at the end, and the
 * JSON result file under `.artifacts/bench/`. Pure apart from `writeResult`. A missed target is
 * reported, never thrown: timing on a shared 2-core machine must not fail a suite.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/e2e/support.js';

export const RESULTS_DIR = join(REPO_ROOT, '.artifacts', 'bench');

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Subject over baseline; NaN when the baseline is not a positive number. */
export function ratio(subject: number, baseline: number): number {
  return baseline > 0 ? subject / baseline : Number.NaN;
}

export interface Metric {
  /** e.g. "start-to-ready jupyter". */
  readonly name: string;
  readonly subjectLabel: string;
  readonly subject: number;
  readonly baselineLabel: string;
  readonly baseline: number;
  /** How to print one value, e.g. seconds with one decimal. */
  readonly format: (value: number) => string;
  /** The ratio subject/baseline should not exceed this. */
  readonly maxRatio: number;
}

export interface MetricResult {
  readonly name: string;
  readonly subject: number;
  readonly baseline: number;
  readonly ratio: number;
  readonly maxRatio: number;
  readonly met: boolean;
  readonly summary: string;
}

export function evaluate(metric: Metric): MetricResult {
  const r = ratio(metric.subject, metric.baseline);
  const met = Number.isFinite(r) && r <= metric.maxRatio;
  const summary =
    `bench ${metric.name}: ${metric.subjectLabel} ${metric.format(metric.subject)}, ` +
    `${metric.baselineLabel} ${metric.format(metric.baseline)}, ` +
    `ratio ${Number.isFinite(r) ? r.toFixed(2) : 'n/a'} ` +
    `(target <= ${metric.maxRatio.toFixed(2)}${met ? '' : ': MISSED'})`;
  return {
    name: metric.name,
    subject: metric.subject,
    baseline: metric.baseline,
    ratio: r,
    maxRatio: metric.maxRatio,
    met,
    summary,
  };
}

export interface SpeedupMetric {
  /** e.g. "engines dask pi speed-up". */
  readonly name: string;
  /** What ran in parallel, e.g. "4 nodes", and the time it took. */
  readonly subjectLabel: string;
  readonly subject: number;
  /** What ran alone, e.g. "1 thread", and the time it took. */
  readonly baselineLabel: string;
  readonly baseline: number;
  readonly format: (value: number) => string;
  /** The speed-up (baseline time over subject time) should reach this. */
  readonly minSpeedup: number;
}

export interface SpeedupResult {
  readonly name: string;
  readonly subject: number;
  readonly baseline: number;
  readonly speedup: number;
  readonly minSpeedup: number;
  readonly met: boolean;
  readonly summary: string;
}

/** Baseline time over subject time, against a minimum: "speed-up 1.93x (target >= 1.85)". */
export function evaluateSpeedup(metric: SpeedupMetric): SpeedupResult {
  const speedup = ratio(metric.baseline, metric.subject);
  const met = Number.isFinite(speedup) && speedup >= metric.minSpeedup;
  const summary =
    `bench ${metric.name}: ${metric.subjectLabel} ${metric.format(metric.subject)}, ` +
    `${metric.baselineLabel} ${metric.format(metric.baseline)}, ` +
    `speed-up ${Number.isFinite(speedup) ? `${speedup.toFixed(2)}x` : 'n/a'} ` +
    `(target >= ${metric.minSpeedup.toFixed(2)}x${met ? '' : ': MISSED'})`;
  return {
    name: metric.name,
    subject: metric.subject,
    baseline: metric.baseline,
    speedup,
    minSpeedup: metric.minSpeedup,
    met,
    summary,
  };
}

export function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a';
}

/** Columns padded to their widest cell; numbers (and "n/a") right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (cell: string): boolean => /^(-?[\d.]+( \S+)?|n\/a)$/.test(cell);
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric(c) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Writes `.artifacts/bench/<name>.json`; returns its path. */
export async function writeResult(name: string, data: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
