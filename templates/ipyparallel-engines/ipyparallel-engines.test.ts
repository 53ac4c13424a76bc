// The rendered `ipyparallel-engines` job, run for real with bash as the local scheduler would,
// beside a running `ipyparallel` session in the same directory (as the agent keeps a user's
// sessions): two extra jobs started at once each wait for their own engines only; the cluster's
// connection.json follows its engine count up and, when one extra job stops, back down within
// seconds (the engines unregister, no heartbeat timeout); the controller's key stays out of every
// script, env file and log. A node whose engine never starts fails the job after the start-up
// limit with that node's log; a cluster id that is no running ipyparallel session is refused.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  VENV_PYTHON,
  cleanup,
  jobLog,
  prepareSession,
  requireVenv,
  startJob,
  stopJob,
  waitForFile,
  type RunningJob,
  type Session,
} from '../runtime/job-harness.js';
import { stallingPython } from '../dask/stall.testutil.js';

const CLUSTER = 's0000000000a1';
const EXTRA_A = 's0000000000b2';
const EXTRA_B = 's0000000000c3';

// In the cluster's session directory: every engine's pid, and each engine's identity.
const ENGINES_PY = `
import json, os
from hpc_jupyter.ipp_engine import connect, engine_identities
rc = connect()
print(json.dumps({"pids": sorted(set(rc[:].apply_sync(os.getpid))),
                  "names": sorted(engine_identities(rc))}))
`;

let root = '';
const running: { session: Session; job: RunningJob }[] = [];

beforeAll(() => {
  requireVenv();
});
afterEach(() => {
  for (const r of running.splice(0)) cleanup(r.session, r.job);
  if (root !== '') rmSync(root, { recursive: true, force: true });
  root = '';
});

async function start(
  template: string,
  id: string,
  values: Record<string, unknown>,
  env: Record<string, string> = {},
  prepare?: (s: Session) => void,
): Promise<{ session: Session; job: RunningJob }> {
  const session = await prepareSession(template, values, { parent: root, id });
  prepare?.(session);
  const r = { session, job: startJob(session, env) };
  running.push(r);
  return r;
}

function connection(s: Session): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(s.dir, 'connection.json'), 'utf8')) as Record<
    string,
    unknown
  >;
}

/** Waits until the cluster's connection.json says `want` engines; the milliseconds it took. */
async function countReaches(s: Session, want: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const conn = connection(s);
    if (conn['engines'] === want && conn['workers'] === want) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`connection.json says ${String(conn['engines'])}, not ${want}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every file of the session directory (and its logs) as text. */
function allText(s: Session): string {
  const files = readdirSync(s.dir, { recursive: true, withFileTypes: true });
  return files
    .filter((f) => f.isFile())
    .map((f) => readFileSync(path.join(f.parentPath, f.name), 'utf8'))
    .join('\n');
}

describe('the ipyparallel-engines template, run locally', () => {
  it('adds engines to a running cluster, two jobs at once, and takes them away on stop', async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'hpcj-ipp-scale-'));
    const cluster = await start('ipyparallel', CLUSTER, { nodes: 1 });
    await waitForFile(cluster.session, cluster.job, 'connection.json', 60_000);
    expect(connection(cluster.session)).toMatchObject({ engines: 1, workers: 1 });

    const a = await start('ipyparallel-engines', EXTRA_A, { cluster: CLUSTER, nodes: 2 });
    const b = await start('ipyparallel-engines', EXTRA_B, { cluster: CLUSTER, nodes: 1 });
    await waitForFile(a.session, a.job, 'connection.json', 90_000);
    await waitForFile(b.session, b.job, 'connection.json', 90_000);
    expect(connection(a.session)).toMatchObject({
      kind: 'ipyparallel-engines',
      cluster: CLUSTER,
      workers: 2,
      expected_workers: 2,
    });
    expect(connection(b.session)).toMatchObject({ cluster: CLUSTER, workers: 1 });
    expect(jobLog(a.session)).toContain('2/2 ipyparallel engines registered');
    // The extra sessions name the cluster's controller, the one port their engines use.
    const controller = (connection(cluster.session)['endpoints'] as { name: string }[]).find(
      (e) => e.name === 'controller',
    );
    expect(connection(a.session)['endpoints']).toEqual([controller]);
    await countReaches(cluster.session, 4, 15_000);

    const run = (): { pids: number[]; names: string[] } =>
      JSON.parse(
        execFileSync(VENV_PYTHON, ['-c', ENGINES_PY], {
          cwd: cluster.session.dir,
          encoding: 'utf8',
          timeout: 30_000,
        }),
      ) as { pids: number[]; names: string[] };
    const four = run();
    expect(four.pids).toHaveLength(4);
    expect(four.names.filter((n) => n.startsWith(`${EXTRA_A}-`))).toHaveLength(2);
    expect(four.names.filter((n) => n.startsWith(`${EXTRA_B}-`))).toHaveLength(1);

    // Stopping one extra job: its engine unregisters as it exits, long before 30 missed beats.
    expect((await stopJob(b.job)).code).toBe(143);
    expect(await countReaches(cluster.session, 3, 10_000)).toBeLessThan(10_000);
    expect(run().pids).toHaveLength(3);

    const key = (
      JSON.parse(
        readFileSync(
          path.join(cluster.session.dir, 'ipyparallel/security/ipcontroller-engine.json'),
          'utf8',
        ),
      ) as { key: string }
    ).key;
    expect(key.length).toBeGreaterThan(8);
    for (const s of [a.session, b.session]) expect(allText(s)).not.toContain(key);
    expect(jobLog(cluster.session)).not.toContain(key);
  }, 180_000);

  it('fails after the start-up limit, naming the node without an engine', async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'hpcj-ipp-scale-'));
    const cluster = await start('ipyparallel', CLUSTER, { nodes: 1 });
    await waitForFile(cluster.session, cluster.job, 'connection.json', 60_000);
    const extra = await start(
      'ipyparallel-engines',
      EXTRA_A,
      { cluster: CLUSTER, nodes: 2, startTimeoutSeconds: 10 },
      { HPC_JUPYTER_NODES: 'n1,n2' },
      (s) => {
        stallingPython(s, 'hpc_jupyter.ipp_extra_engine', 'n2');
      },
    );
    const exit = await Promise.race([
      extra.job.exited,
      new Promise<undefined>((r) => setTimeout(r, 60_000)),
    ]);
    const log = jobLog(extra.session);
    expect(exit?.code, log).toBe(1);
    expect(log).toContain('only 1/2 ipyparallel engines registered within 10 s');
    expect(log).toContain('nodes missing engines: n2');
    expect(log).toContain('engine on n2 is stuck (test)');
  }, 120_000);

  it('refuses a cluster that is not a running ipyparallel session', async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'hpcj-ipp-scale-'));
    const extra = await start('ipyparallel-engines', EXTRA_A, { cluster: CLUSTER });
    const exit = await extra.job.exited;
    const log = jobLog(extra.session);
    expect(exit.code, log).toBe(1);
    expect(log).toContain(`session ${CLUSTER} is not a running ipyparallel cluster of yours`);
    // The id reaches the job in job.env only, never as script text.
    expect(readFileSync(path.join(extra.session.dir, 'job.sh'), 'utf8')).not.toContain(CLUSTER);
  }, 30_000);
});
