// The rendered `ipyparallel` job, run for real with bash as the local scheduler would, with two
// "nodes" on this machine: ready once both engines registered, the client file private (with
// the CurveZMQ server key and the HMAC key), `rc` from the start-up code runs code on both
// engines; with `mpi`, the engines are one MPI program (ids = ranks, an allreduce across them);
// and a node whose engine never starts makes the job fail after the start-up limit, naming the
// node and showing its log.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  VENV_PYTHON,
  cleanup,
  descendants,
  jobLog,
  prepareSession,
  requireVenv,
  startJob,
  stopJob,
  waitForFile,
  waitGone,
  type RunningJob,
  type Session,
} from '../runtime/job-harness.js';
import { stallingPython } from '../dask/stall.testutil.js';

const CLIENT_PY = `
import json, os
from hpc_jupyter.startup import *
print(json.dumps({"ids": rc.ids, "pids": sorted(set(rc[:].apply_sync(os.getpid)))}))
`;

const MPI_CLIENT_PY = `
import json
from hpc_jupyter.startup import *
def view():
    from mpi4py import MPI
    c = MPI.COMM_WORLD
    return c.Get_rank(), c.Get_size(), c.allreduce(c.Get_rank())
views = rc[:].apply_sync(view)
print(json.dumps({"ids": sorted(rc.ids), "ranks": [v[0] for v in views],
                  "sizes": sorted({v[1] for v in views}), "sums": sorted({v[2] for v in views})}))
`;

let session: Session | undefined;
let job: RunningJob | undefined;
let seen: number[] = [];

beforeAll(() => {
  requireVenv();
});
afterEach(() => {
  cleanup(session, job, seen);
  session = undefined;
  job = undefined;
  seen = [];
});

describe('the ipyparallel template, run locally', () => {
  it('is ready when every engine registered, and `rc` reaches them', async () => {
    session = await prepareSession('ipyparallel', { nodes: 2 });
    job = startJob(session);
    const file = await waitForFile(session, job, 'connection.json', 60_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const conn = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(conn).toMatchObject({ kind: 'ipyparallel', engines: 2, expected_engines: 2 });
    const clientFile = path.join(session.dir, 'ipyparallel/security/ipcontroller-client.json');
    expect(statSync(clientFile).mode & 0o777).toBe(0o600);
    const client = JSON.parse(readFileSync(clientFile, 'utf8')) as {
      key: string;
      curve_serverkey: string | null;
    };
    const key = client.key;
    // CurveZMQ on every port, and the HMAC key kept (ipyparallel drops it under CURVE unless
    // the controller's 0600 config sets one).
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(client.curve_serverkey).toMatch(/^.{40}$/);
    expect(
      statSync(path.join(session.dir, 'ipyparallel/ipcontroller_config.py')).mode & 0o777,
    ).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(key);
    expect(readFileSync(file, 'utf8')).not.toContain(client.curve_serverkey);

    const out = execFileSync(VENV_PYTHON, ['-c', CLIENT_PY], {
      cwd: session.dir,
      encoding: 'utf8',
      timeout: 30_000,
    });
    const result = JSON.parse(out) as { ids: number[]; pids: number[] };
    expect(result.ids).toHaveLength(2);
    expect(result.pids).toHaveLength(2);
    expect(jobLog(session)).toContain('2/2 ipyparallel engines registered');
    expect(jobLog(session)).not.toContain(key);

    seen = descendants(job.pid);
    expect((await stopJob(job)).code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
  }, 90_000);

  it('with mpi, starts the engines as one MPI program whose ranks are the engine ids', async () => {
    session = await prepareSession('ipyparallel', { nodes: 2, mpi: true });
    job = startJob(session);
    await waitForFile(session, job, 'connection.json', 60_000);
    const out = execFileSync(VENV_PYTHON, ['-c', MPI_CLIENT_PY], {
      cwd: session.dir,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(out)).toEqual({ ids: [0, 1], ranks: [0, 1], sizes: [2], sums: [1] });
    expect(jobLog(session)).toContain('as one MPI program');
    seen = descendants(job.pid);
    expect((await stopJob(job)).code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
  }, 90_000);

  it('fails after the start-up limit, naming the node without an engine', async () => {
    session = await prepareSession('ipyparallel', { nodes: 2, startTimeoutSeconds: 10 });
    stallingPython(session, 'ipyparallel.engine', 'n2');
    job = startJob(session, { HPC_JUPYTER_NODES: 'n1,n2' });
    const exit = await Promise.race([
      job.exited,
      new Promise<undefined>((r) => setTimeout(r, 60_000)),
    ]);
    const log = jobLog(session);
    expect(exit?.code, log).toBe(1);
    expect(log).toContain('only 1/2 ipyparallel engines registered within 10 s');
    expect(log).toContain('nodes missing engines: n2');
    expect(log).toContain('engine on n2 is stuck (test)');
  }, 90_000);
});
