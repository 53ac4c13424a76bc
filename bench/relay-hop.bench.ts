/**
 * Benchmark: the relay hop alone (hpc_jupyter.relay, the mutual-TLS door in front of a job
 * kernel's unix sockets), on this machine, no cluster. `bench/support/relay_hop.py` runs an echo
 * server on a unix socket and a TLS client doing small round trips through the relay's
 * selectors loop and, as the baseline in the same run, through the asyncio relay it replaced
 * (`bench/support/relay_asyncio.py`), plus straight to the unix socket. Prints p50/p99 of each
 * path, the hop's cost over the direct path, each relay's CPU time per round trip, and the
 * ratios selectors/asyncio (target <= 0.85: most of a hop's wall time on this 2-core VM is
 * waking a third process, twice per round trip, which no relay in Python avoids).
 * Writes .artifacts/bench/relay-hop.json. Never fails on timing.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';
import { VENV_PYTHON } from '../templates/runtime/job-harness.js';
import { REPO_ROOT } from '../test/e2e/support.js';
import { evaluate, median, table, writeResult } from './support/report.js';

const ROUNDS = Number(process.env['HPCJ_BENCH_ROUNDTRIPS'] ?? '2000');
// About one ZMTP frame of a small Jupyter message.
const SIZE = Number(process.env['HPCJ_BENCH_RELAY_BYTES'] ?? '200');

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function us(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(0)} us` : 'n/a';
}

describe('relay hop', () => {
  it('selectors relay against the asyncio relay, same run', async () => {
    const { stdout } = await promisify(execFile)(
      VENV_PYTHON,
      [join(REPO_ROOT, 'bench', 'support', 'relay_hop.py'), String(ROUNDS), String(SIZE)],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const out = JSON.parse(stdout) as {
      samples: Record<'direct' | 'selectors' | 'asyncio', number[]>;
      cpu_us: Record<'selectors' | 'asyncio', number>;
    };
    const runs = out.samples;
    const cpu = out.cpu_us;
    const stats = Object.fromEntries(
      Object.entries(runs).map(([k, v]) => [k, { p50: median(v), p99: percentile(v, 99) }]),
    ) as Record<keyof typeof runs, { p50: number; p99: number }>;
    const labels = {
      direct: 'unix socket, direct',
      selectors: 'TLS -> relay (selectors) -> unix',
      asyncio: 'TLS -> relay (asyncio, before) -> unix',
    };
    const rows = (Object.keys(runs) as (keyof typeof runs)[]).map((k) => [
      labels[k],
      us(stats[k].p50),
      us(stats[k].p99),
      k === 'direct' ? '' : us(stats[k].p50 - stats.direct.p50),
      k === 'direct' ? '' : us(cpu[k]),
    ]);
    console.log(
      `\necho round trip of ${String(SIZE)} bytes (${String(ROUNDS)} rounds)\n${table(
        ['path', 'p50', 'p99', 'p50 over direct', 'relay CPU / round trip'],
        rows,
      )}\n`,
    );
    const results = [
      evaluate({
        name: 'relay hop p50',
        subjectLabel: 'selectors',
        subject: stats.selectors.p50,
        baselineLabel: 'asyncio',
        baseline: stats.asyncio.p50,
        format: us,
        maxRatio: 0.85,
      }),
      evaluate({
        name: 'relay hop p99',
        subjectLabel: 'selectors',
        subject: stats.selectors.p99,
        baselineLabel: 'asyncio',
        baseline: stats.asyncio.p99,
        format: us,
        maxRatio: 0.85,
      }),
      evaluate({
        name: 'relay CPU per round trip',
        subjectLabel: 'selectors',
        subject: cpu.selectors,
        baselineLabel: 'asyncio',
        baseline: cpu.asyncio,
        format: us,
        maxRatio: 0.85,
      }),
    ];
    // The client's own TLS is in both relay paths; the hop is what a path adds over direct.
    const hopLine =
      `bench relay hop p50 over direct: selectors +${us(stats.selectors.p50 - stats.direct.p50)}, ` +
      `asyncio +${us(stats.asyncio.p50 - stats.direct.p50)}`;
    const summary = [...results.map((r) => r.summary), hopLine];
    for (const line of summary) console.log(line);
    await writeResult('relay-hop', {
      name: 'relay-hop',
      finishedAt: new Date().toISOString(),
      rounds: ROUNDS,
      bytes: SIZE,
      summary,
      samples: runs,
      cpuUs: cpu,
      stats,
      results,
    });
  });
});
