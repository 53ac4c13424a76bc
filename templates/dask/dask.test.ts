// The rendered `dask` job, run for real with bash as the local scheduler would, with two "nodes"
// on this machine: ready once both workers registered, the TLS files private, `client` from the
// start-up code computes on both workers, a client without the certificate is refused, Dask runs
// with hpc-jupyter's defaults for batch jobs under the user's own configuration; and a
// node whose worker never starts makes the job fail after the start-up limit, naming the node
// and showing the end of its log.
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
import { stallingPython } from './stall.testutil.js';

const CLIENT_PY = `
import json, os
import dask
from hpc_jupyter.startup import *
total = client.submit(sum, range(101)).result()
keys = ["distributed.admin.tick.interval", "distributed.worker.profile.interval"]
settings = lambda: [dask.config.get(k) for k in keys]
print(json.dumps({"total": total, "workers": len(client.scheduler_info(n_workers=-1)["workers"]),
                  "scheduler": client.run_on_scheduler(settings),
                  "worker": sorted(set(tuple(v) for v in client.run(settings).values()))}))
`;

const NO_CERT_PY = `
import json, sys
from distributed import Client
from distributed.security import Security
try:
    Client(sys.argv[1], timeout=5, security=Security(require_encryption=True))
    print("connected")
except Exception:
    print("refused")
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

describe('the dask template, run locally', () => {
  it('is ready when every worker registered, over TLS only', async () => {
    session = await prepareSession('dask', { nodes: 2, threadsPerWorker: 1 });
    // The user's own Dask setting (as a DASK_* variable) wins over hpc-jupyter's default.
    job = startJob(session, { DASK_DISTRIBUTED__WORKER__PROFILE__INTERVAL: '20ms' });
    const file = await waitForFile(session, job, 'connection.json', 60_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const conn = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(conn).toMatchObject({ kind: 'dask', workers: 2, expected_workers: 2 });
    expect(conn['scheduler']).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const tls = path.join(session.dir, 'dask-tls');
    expect(statSync(tls).mode & 0o777).toBe(0o700);
    for (const name of ['ca.pem', 'cert.pem', 'key.pem']) {
      expect(statSync(path.join(tls, name)).mode & 0o777).toBe(0o600);
    }

    const run = (script: string, args: string[] = []): string =>
      execFileSync(VENV_PYTHON, ['-c', script, ...args], {
        cwd: session?.dir,
        encoding: 'utf8',
        timeout: 30_000,
      });
    expect(JSON.parse(run(CLIENT_PY))).toEqual({
      total: 5050,
      workers: 2,
      scheduler: ['500ms', '20ms'],
      worker: [['500ms', '20ms']],
    });
    expect(run(NO_CERT_PY, [String(conn['scheduler'])]).trim()).toBe('refused');

    const key = readFileSync(path.join(tls, 'key.pem'), 'utf8').split('\n')[1] ?? 'missing';
    expect(jobLog(session)).toContain('2/2 Dask workers registered');
    expect(jobLog(session)).not.toContain(key);

    seen = descendants(job.pid);
    expect((await stopJob(job)).code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
  }, 90_000);

  it('fails after the start-up limit, naming the node without a worker', async () => {
    session = await prepareSession('dask', { nodes: 2, startTimeoutSeconds: 10 });
    stallingPython(session, 'hpc_jupyter.dask_engine worker', 'n2');
    job = startJob(session, { HPC_JUPYTER_NODES: 'n1,n2' });
    const exit = await Promise.race([
      job.exited,
      new Promise<undefined>((r) => setTimeout(r, 60_000)),
    ]);
    const log = jobLog(session);
    expect(exit?.code, log).toBe(1);
    expect(log).toContain('only 1/2 Dask workers registered within 10 s');
    expect(log).toContain('nodes without a worker: n2');
    expect(log).toContain('engine on n2 is stuck (test)');
  }, 90_000);
});
