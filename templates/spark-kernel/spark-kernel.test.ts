// The rendered `spark-kernel` job (compose: [spark, kernel]), run for real with bash as the local
// scheduler would, with two "nodes" on this machine: the Spark cluster comes up first (its
// connection in engine.json), then the kernel, whose connection.json says it has the engine; a
// client with the kernel's key finds `spark` and `sc` ready and runs a job on both workers; when
// the Spark master dies the job ends.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
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
import { RELAY_CLIENT_PY } from '../kernel/relay-client.testutil.js';

// Connects with connection.json plus the key through the kernel's TLS relay, as the agent's
// tunnels would, and runs code that only works when the kernel's start-up code made `spark` and
// `sc`.
const CLIENT_PY = `${RELAY_CLIENT_PY}
import sys
client = relay_client(sys.argv[1], sys.argv[2], sys.argv[3])
try:
    client.wait_for_ready(timeout=120)
    code = ("print(sc.defaultParallelism, type(spark).__name__, "
            "sc.parallelize(range(1000), 4).filter(lambda x: x % 2 == 0).count())")
    out = []
    reply = client.execute_interactive(code, timeout=120, output_hook=lambda m: out.append(
        m["content"].get("text", "")) if m["msg_type"] == "stream" and m["content"]["name"] == "stdout" else None)
    print(json.dumps({"status": reply["content"]["status"], "out": "".join(out).split()}))
finally:
    client.stop_channels()
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

describe('the spark-kernel template, run locally', () => {
  it('starts Spark, then a kernel with `spark` and `sc`, and ends when the master dies', async () => {
    session = await prepareSession('spark-kernel', {
      nodes: 2,
      cpusPerTask: 1,
      workingDirectory: '/tmp',
    });
    const keyFile = path.join(session.dir, 'kernel-key');
    writeFileSync(keyFile, randomUUID(), { mode: 0o600 });
    job = startJob(session);

    const file = await waitForFile(session, job, 'connection.json', 180_000);
    const conn = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(conn).toMatchObject({ kind: 'kernel', engine: 'spark', ip: '127.0.0.1', restarts: 0 });
    const engineFile = path.join(session.dir, 'engine.json');
    expect(statSync(engineFile).mode & 0o777).toBe(0o600);
    const engine = JSON.parse(readFileSync(engineFile, 'utf8')) as Record<string, unknown>;
    expect(engine).toMatchObject({ kind: 'spark', workers: 2, expected_workers: 2 });
    const log = jobLog(session);
    expect(log.indexOf('2/2 Spark workers registered')).toBeGreaterThan(-1);
    expect(log.indexOf('starting the kernel')).toBeGreaterThan(
      log.indexOf('2/2 Spark workers registered'),
    );

    const out = execFileSync(VENV_PYTHON, ['-c', CLIENT_PY, file, keyFile, session.dir], {
      encoding: 'utf8',
      timeout: 200_000,
    });
    const lines = out.trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1] ?? '')).toEqual({
      status: 'ok',
      out: [String(Number(engine['cores_per_worker']) * 2), 'SparkSession', '500'],
    });

    // The master is what the engine lives by: the job ends with it, kernel and all.
    const master = execFileSync(
      'pgrep',
      ['-f', `deploy.master.Master.*${String(engine['host'])}`],
      {
        encoding: 'utf8',
      },
    )
      .trim()
      .split('\n')
      .map(Number)
      .find((pid) => descendants(job?.pid ?? 0).includes(pid));
    expect(master).toBeGreaterThan(0);
    seen = descendants(job.pid);
    process.kill(master ?? 0, 'SIGKILL');
    const ended = await Promise.race([
      job.exited,
      new Promise<undefined>((r) => setTimeout(r, 30_000, undefined)),
    ]);
    expect(ended?.code).toBe(143);
    expect(jobLog(session)).toMatch(/error: the Spark master exited; see .*; ending the job/);
    expect(await waitGone(seen, 15_000)).toEqual([]);
    job = undefined;
  }, 400_000);

  it('stops on SIGTERM like any job', async () => {
    session = await prepareSession('spark-kernel', { nodes: 1, cpusPerTask: 1 });
    writeFileSync(path.join(session.dir, 'kernel-key'), randomUUID(), { mode: 0o600 });
    job = startJob(session);
    await waitForFile(session, job, 'connection.json', 180_000);
    seen = descendants(job.pid);
    expect((await stopJob(job)).code).toBe(143);
    expect(await waitGone(seen, 15_000)).toEqual([]);
  }, 300_000);
});
