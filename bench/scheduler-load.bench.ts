/**
 * Benchmark: what the session layer costs the scheduler, in commands per minute, with 1 live
 * session and with SESSIONS live sessions (target: the same number: one batched status call per
 * cluster per interval, whatever the count). A SessionManager drives the real Slurm test cluster
 * over SSH through a CountingTransport. Both counts are taken in the same phase, every session
 * queued (held at submission, so nothing runs and no node is taken from anyone else), over a
 * fixed window after a settle time. Prints the counts by command and one summary line, writes
 * .artifacts/bench/scheduler-load.json, cancels every job it submitted. Never fails on timing.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { ClusterConfig } from '../packages/core/src/config/types.js';
import { SlurmScheduler } from '../packages/core/src/schedulers/slurm.js';
import { templateRenderer } from '../packages/core/src/sessions/job-renderer.js';
import { SessionManager } from '../packages/core/src/sessions/session-manager.js';
import type { SessionRecord } from '../packages/core/src/sessions/types.js';
import { BUILTIN_TEMPLATES_DIR } from '../packages/core/src/templates/index.js';
import type { SshTransport } from '../packages/core/src/transport/ssh.js';
import { sshTransportFor, testCluster } from '../test/e2e/support.js';
import { CountingTransport } from './support/counting-transport.js';
import { holdingSubmits } from './support/held-submits.js';
import { evaluate, table, writeResult } from './support/report.js';

const SESSIONS = Number(process.env.HPCJ_BENCH_SESSIONS ?? '50');
const WINDOW_MS = Number(process.env.HPCJ_BENCH_WINDOW_S ?? '30') * 1000;
/** After the last session is queued and polled, before counting starts. */
const SETTLE_MS = 3_000;
/** Sessions started at once: enough to be quick, few enough to leave the SSH channels shared. */
const START_CONCURRENCY = 8;
const MAX_RATIO = 1.1;

let testlab: ClusterConfig;
let ssh: SshTransport;
let counting: CountingTransport;
let scheduler: SlurmScheduler;
/** Every job and session directory this run made, for the clean-up. */
const jobIds = new Set<string>();
const sessionDirs = new Set<string>();
const managers: SessionManager[] = [];
/** The managers' local state directories (their secrets too), removed at the end. */
const stateDirs: string[] = [];

beforeAll(async () => {
  testlab = (await testCluster()).testlab;
  ssh = sshTransportFor(testlab);
  counting = new CountingTransport(ssh);
  scheduler = new SlurmScheduler(holdingSubmits(counting), { clusterName: testlab.name });
});

afterAll(async () => {
  for (const manager of managers) await manager.close();
  if (jobIds.size > 0) await scheduler.cancel([...jobIds]);
  if (sessionDirs.size > 0) await ssh.run(['rm', '-rf', '--', ...sessionDirs]);
  await ssh.close();
  for (const dir of stateDirs) await rm(dir, { recursive: true, force: true });
});

interface Window {
  readonly sessions: number;
  /** How long starting them all took. */
  readonly startMs: number;
  readonly windowMs: number;
  /** Polls of the cluster that ended inside the window. */
  readonly polls: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly schedulerCommands: number;
  readonly schedulerPerMinute: number;
  readonly allPerMinute: number;
  /** Sessions not `queued` at the end of the window (should be none). */
  readonly notQueued: number;
  readonly problems: readonly string[];
}

/** Runs `task` for 0..n-1, at most `limit` at a time. */
async function pool<T>(n: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return out;
}

/** Starts `n` sessions in a fresh manager, lets them settle, then counts for WINDOW_MS. */
async function measure(n: number): Promise<Window> {
  const polls: number[] = [];
  const problems: string[] = [];
  const stateDir = mkdtempSync(join(tmpdir(), 'hpcj-bench-sessions-'));
  stateDirs.push(stateDir);
  const manager = await SessionManager.open({
    clusters: {
      get: (name) => {
        if (name !== testlab.name) throw new Error(`no cluster ${name} in this benchmark`);
        return { config: testlab, transport: counting, scheduler };
      },
    },
    renderer: templateRenderer(BUILTIN_TEMPLATES_DIR),
    stateDir,
    onPoll: () => polls.push(Date.now()),
    onProblem: (error) => problems.push(error instanceof Error ? error.message : String(error)),
  });
  managers.push(manager);
  const t0 = Date.now();
  const started = await pool(n, START_CONCURRENCY, async () => {
    const record = await manager.start({
      cluster: testlab.name,
      template: 'jupyter',
      params: { hours: 1 },
    });
    if (record.jobId !== undefined) jobIds.add(record.jobId);
    if (record.sessionDir !== undefined) sessionDirs.add(record.sessionDir);
    return record;
  });
  const startMs = Date.now() - t0;
  // Steady: every session has been polled since its submit (a queued record gets its reason).
  const polled = (s: SessionRecord): boolean => s.state !== 'queued' || s.reason !== undefined;
  const deadline = Date.now() + 60_000;
  while (!started.every((r) => polled(manager.get(r.id) ?? r))) {
    if (Date.now() > deadline) throw new Error('sessions not polled within 60 s of their start');
    await sleep(200);
  }
  await sleep(SETTLE_MS);

  counting.reset();
  const from = Date.now();
  await sleep(WINDOW_MS);
  const counts = counting.snapshot();
  const schedulerCommands = counting.schedulerCommands();
  const windowMs = Date.now() - from;
  const all = Object.values(counts).reduce((a, b) => a + b, 0);
  const notQueued = started.filter((r) => manager.get(r.id)?.state !== 'queued').length;
  const perMinute = (count: number): number => (count * 60_000) / windowMs;
  return {
    sessions: n,
    startMs,
    windowMs,
    polls: polls.filter((t) => t >= from).length,
    counts,
    schedulerCommands,
    schedulerPerMinute: perMinute(schedulerCommands),
    allPerMinute: perMinute(all),
    notQueued,
    problems,
  };
}

/** Stops following the sessions of the last window and cancels their (held) jobs. */
async function release(manager: SessionManager | undefined): Promise<void> {
  if (manager === undefined) return;
  await manager.close();
  const ids = manager
    .list()
    .map((r) => r.jobId)
    .filter((id): id is string => id !== undefined);
  await scheduler.cancel(ids);
  for (const id of ids) jobIds.delete(id);
}

function report(one: Window, many: Window): string {
  const keys = [...new Set([...Object.keys(one.counts), ...Object.keys(many.counts)])].sort();
  const perMin = (w: Window, key: string): string =>
    (((w.counts[key] ?? 0) * 60_000) / w.windowMs).toFixed(1);
  const rows = [
    ...keys.map((k) => [k, perMin(one, k), perMin(many, k)]),
    ['scheduler commands', one.schedulerPerMinute.toFixed(1), many.schedulerPerMinute.toFixed(1)],
    ['all commands and files', one.allPerMinute.toFixed(1), many.allPerMinute.toFixed(1)],
    ['polls', ...[one, many].map((w) => ((w.polls * 60_000) / w.windowMs).toFixed(1))],
  ];
  const header = ['per minute', `${one.sessions} session`, `${many.sessions} sessions`];
  const notes = [one, many].map(
    (w) =>
      `${w.sessions} session(s): started in ${(w.startMs / 1000).toFixed(1)} s, ` +
      `window ${(w.windowMs / 1000).toFixed(1)} s, ${w.notQueued} not queued at its end, ` +
      `${w.problems.length} problem(s)${w.problems.length > 0 ? `: ${w.problems.join('; ')}` : ''}`,
  );
  return `${table(header, rows)}\n${notes.join('\n')}`;
}

describe('scheduler-load', () => {
  it(`scheduler commands per minute with 1 and ${SESSIONS} queued sessions`, async () => {
    const one = await measure(1);
    await release(managers.at(-1));
    const many = await measure(SESSIONS);
    await release(managers.at(-1));

    const metric = evaluate({
      name: 'scheduler-load queued',
      subjectLabel: `${SESSIONS} sessions`,
      subject: many.schedulerPerMinute,
      baselineLabel: '1 session',
      baseline: one.schedulerPerMinute,
      format: (v) => `${v.toFixed(1)} commands/min`,
      maxRatio: MAX_RATIO,
    });
    console.log(
      `\nscheduler-load: commands per minute over ${WINDOW_MS / 1000} s with every session ` +
        `queued (held), default poll intervals\n${report(one, many)}\n\n${metric.summary}\n`,
    );
    const file = await writeResult('scheduler-load', {
      name: 'scheduler-load',
      finishedAt: new Date().toISOString(),
      settings: { sessions: SESSIONS, windowMs: WINDOW_MS, settleMs: SETTLE_MS },
      metrics: [metric],
      summary: [metric.summary],
      windows: [one, many],
    });
    if (one.notQueued + many.notQueued > 0) {
      console.log(
        'warning: some sessions left the queued phase: the two counts are not comparable',
      );
    }
    console.log(`results: ${file}`);
  });
});
