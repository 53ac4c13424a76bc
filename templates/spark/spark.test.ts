// The rendered `spark` job, run for real with bash as the local scheduler would, with two "nodes"
// on this machine: ready once both workers registered with the master, the properties file with
// the job's secret private, `spark`/`sc` from the start-up code run a job on both workers, and the
// secret is in no argv and no log.
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

const CLIENT_PY = `
import json, os
from hpc_jupyter.startup import *
count = sc.parallelize(range(1000), 4).filter(lambda x: x % 2 == 0).count()
print(json.dumps({"count": count, "parallelism": sc.defaultParallelism,
                  "rows": spark.range(10).count()}))
spark.stop()
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

describe('the spark template, run locally', () => {
  it('is ready when every worker registered, and `sc` runs jobs on them', async () => {
    session = await prepareSession('spark', { nodes: 2, cpusPerTask: 1 });
    job = startJob(session);
    const file = await waitForFile(session, job, 'connection.json', 120_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const conn = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(conn).toMatchObject({ kind: 'spark', workers: 2, expected_workers: 2 });
    expect(conn['master']).toMatch(/^spark:\/\/127\.0\.0\.1:\d+$/);
    const conf = path.join(session.dir, 'spark', 'spark.conf');
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    const text = readFileSync(conf, 'utf8');
    expect(text).toContain('spark.network.crypto.cipher AES/GCM/NoPadding');
    expect(text).toContain('spark.master.rest.enabled false');
    const secret = /^spark\.authenticate\.secret (\S+)$/m.exec(text)?.[1] ?? 'missing';
    expect(secret).toMatch(/^[0-9a-f]{64}$/);

    const out = execFileSync(VENV_PYTHON, ['-c', CLIENT_PY], {
      cwd: session.dir,
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = out.trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1] ?? '')).toEqual({
      count: 500,
      parallelism: Number(conn['cores_per_worker']) * 2,
      rows: 10,
    });
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(secret);
    expect(jobLog(session)).toContain('2/2 Spark workers registered');
    expect(jobLog(session)).not.toContain(secret);
    for (const name of ['spark-master.log', 'spark-worker-vm.log']) {
      const log = path.join(session.dir, 'logs', name);
      expect(readFileSync(log, 'utf8')).not.toContain(secret);
    }

    seen = descendants(job.pid);
    expect((await stopJob(job)).code).toBe(143);
    expect(await waitGone(seen, 15_000)).toEqual([]);
  }, 200_000);
});
