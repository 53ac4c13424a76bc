/**
 * Attaching to engines from outside their job, on the 4-node Slurm test cluster: from this
 * machine (not a node of the job), `hpc-jupyter connect ID` gives a Dask scheduler and an
 * ipyparallel controller forwarded to 127.0.0.1 through the agent's SSH connection, with the
 * engine's client files in a private directory (0700, files 0600) and no secret in its output;
 * `hpc_jupyter.client.dask(ID)` / `.ipyparallel(ID)` (asking the agent over its socket) connect,
 * and a task on each worker/engine reports node1..node4. The Dask certificate is checked against
 * the scheduler's node name although the socket goes to 127.0.0.1: a wrong name is refused. When
 * the session stops, the copied files are removed. A Spark cluster started with a Spark Connect
 * server takes a driver-less client the same way (`hpc_jupyter.client.spark(ID)`, the token from
 * the copied file): Monte Carlo pi runs on node1..node4; a client without the token, or with a
 * wrong one, is refused, here and by the second test user on the cluster; the token is in no
 * argv, log or job metadata; a kernel in the job gets `spark` from the same server.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JOB_PYTHON,
  NUM_SAMPLES,
  lastJson,
  pythonInJob,
  sshAs,
  startEngine,
  stopEngine,
  type EngineSession,
  type Ran,
} from './engines-support.js';
import { cli, clusterScript, privateAgentEnv, testCluster } from './support.js';

interface Attach {
  id: string;
  kind: string;
  directory: string;
  dask?: {
    address: string;
    serverHostname?: string;
    tls: { caFile: string; certFile: string; keyFile: string };
    dashboardUrl?: string;
  };
  ipyparallel?: { connectionFile: string };
  spark?: { remote: string; tokenFile: string };
}

// On this machine, with the private agent's environment: one task pinned to each worker.
const DASK_PY = `
import json, socket, sys
from hpc_jupyter.client import attach, dask, dask_security
from distributed import Client
session = sys.argv[1]
client = dask(session, timeout=30)
workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
futures = [client.submit(socket.gethostname, workers=[w], pure=False) for w in workers]
hosts = client.gather(futures)
# The same files, but expecting another name in the certificate: the handshake must fail.
attached = attach(session)
attached["dask"]["serverHostname"] = "not-the-scheduler.invalid"
try:
    Client(attached["dask"]["address"], security=dask_security(attached), timeout=8)
    wrong_name = "connected"
except Exception:
    wrong_name = "refused"
print(json.dumps({"workers": len(workers), "hosts": sorted(hosts), "wrong_name": wrong_name}))
`;

// On this machine: one task on each engine, through the helper and through the client file alone.
const IPP_PY = `
import json, socket, sys
import ipyparallel as ipp
from hpc_jupyter.client import ipyparallel
rc = ipyparallel(sys.argv[1], timeout=30)
rc.wait_for_engines(4, timeout=60)
hosts = rc[:].apply_sync(socket.gethostname)
plain = ipp.Client(sys.argv[2], timeout=30)
plain_hosts = plain[:].apply_sync(socket.gethostname)
print(json.dumps({"engines": len(rc.ids), "hosts": sorted(hosts),
                  "plain_hosts": sorted(plain_hosts)}))
`;

// On this machine: Monte Carlo pi through Spark Connect (no RDDs there: columns of random
// numbers), and the host each of 16 partitions ran on, from a Python UDF.
const SPARK_PY = `
import json, socket, sys, time
from hpc_jupyter.client import spark as hpc_spark
from pyspark.sql import functions as F
spark = hpc_spark(sys.argv[1])
n = int(sys.argv[2])
t0 = time.time()
points = spark.range(0, n, 1, 16).select(F.rand(1).alias("x"), F.rand(2).alias("y"))
inside = points.where("x * x + y * y < 1").count()
wall = time.time() - t0
host = F.udf(lambda _: socket.gethostname())
hosts = sorted({r[0] for r in spark.range(0, 16, 1, 16).select(host("id")).collect()})
print(json.dumps({"pi": 4.0 * inside / n, "hosts": hosts, "wall": wall}))
`;

// A client that knows the server's address but not its token (none, or a wrong one).
const SPARK_STRANGER_PY = `
import json, sys
from pyspark.sql import SparkSession
out = {}
for name, url in (("no_token", sys.argv[1]), ("wrong_token", sys.argv[1] + "/;token=" + "x" * 43)):
    try:
        SparkSession.builder.remote(url).getOrCreate().range(3).count()
        out[name] = "ran"
    except Exception as e:
        out[name] = "UNAUTHENTICATED" if "UNAUTHENTICATED" in str(e) else str(e)[:300]
print(json.dumps(out))
`;

// A kernel in the job: the start-up code gives \`spark\` on the job's Connect server, no \`sc\`.
const SPARK_IN_JOB_PY = `
from hpc_jupyter.startup import *
import json
print(json.dumps({"rows": spark.range(100).count(), "has_sc": "sc" in globals(),
                  "connect": type(spark).__module__.startswith("pyspark.sql.connect")}))
`;

const NODES = ['node1', 'node2', 'node3', 'node4'];

let env: Record<string, string>;
const sessions: EngineSession[] = [];

/** Runs the venv's Python on this machine with the private agent's environment. */
function localPython(script: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(JOB_PYTHON, ['-', ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

async function connectJson(id: string): Promise<Attach> {
  const ran = await cli(['connect', id, '--json'], env);
  expect(ran.code, ran.stderr).toBe(0);
  return JSON.parse(ran.stdout) as Attach;
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** Waits until the agent has seen the job end and removed the copied files. */
async function waitGone(dir: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (existsSync(dir)) {
    if (Date.now() > deadline) throw new Error(`${dir} still there 60 s after the job ended`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  for (const s of sessions) await cli(['stop', s.id], env);
  await cli(['agent', 'stop'], env);
});

describe('a Dask cluster on four nodes, from outside the job', () => {
  let session: EngineSession | undefined;
  let attached: Attach | undefined;

  it('starts, and `connect` forwards the scheduler and copies the TLS files privately', async () => {
    session = await startEngine(env, 'dask', ['--nodes', '4']);
    sessions.push(session);
    expect(session.connection).toMatchObject({ kind: 'dask', workers: 4 });
    attached = await connectJson(session.id);
    expect(attached.kind).toBe('dask');
    const dask = attached.dask;
    if (dask === undefined) throw new Error('no dask section');
    expect(dask.address).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    // The scheduler's address on the cluster, which its certificate names.
    expect(dask.serverHostname).toBe(session.endpoints.find((e) => e.name === 'scheduler')?.host);
    expect(dask.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/status\/$/);
    expect(mode(attached.directory)).toBe(0o700);
    for (const file of [dask.tls.caFile, dask.tls.certFile, dask.tls.keyFile]) {
      expect(file.startsWith(`${attached.directory}/`)).toBe(true);
      expect(mode(file)).toBe(0o600);
    }
    // The human form names the same forward and prints no key material.
    const human = await cli(['connect', session.id], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(dask.address);
    const keyLine = readFileSync(dask.tls.keyFile, 'utf8').split('\n')[1] ?? 'missing';
    expect(human.stdout + human.stderr).not.toContain(keyLine);
  });

  it('runs a task on each worker through hpc_jupyter.client.dask: node1..node4', async () => {
    if (session === undefined) throw new Error('no session');
    const ran = await localPython(DASK_PY, [session.id]);
    expect(lastJson(ran)).toEqual({ workers: 4, hosts: NODES, wrong_name: 'refused' });
  });

  it('stops; the job leaves squeue and the copied files go', async () => {
    if (session === undefined || attached === undefined) throw new Error('no session');
    await stopEngine(env, session);
    sessions.splice(sessions.indexOf(session), 1);
    await waitGone(attached.directory);
  });
});

describe('an ipyparallel cluster on four nodes, from outside the job', () => {
  let session: EngineSession | undefined;
  let attached: Attach | undefined;

  it('starts, and `connect` writes a client file whose ports are local forwards', async () => {
    session = await startEngine(env, 'ipyparallel', ['--nodes', '4']);
    sessions.push(session);
    expect(session.connection).toMatchObject({ kind: 'ipyparallel', engines: 4 });
    attached = await connectJson(session.id);
    expect(attached.kind).toBe('ipyparallel');
    const file = attached.ipyparallel?.connectionFile;
    if (file === undefined) throw new Error('no client file');
    expect(mode(attached.directory)).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    const info = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(info['interface']).toBe('tcp://127.0.0.1');
    expect(typeof info['key']).toBe('string');
    expect(String(info['key']).length).toBeGreaterThan(8);
    // Each port is the forward of the endpoint the job published for that channel.
    const remote = new Map(session.endpoints.map((e) => [e.name, e.port]));
    expect(remote.get('controller')).toBeGreaterThan(0);
    const locals = ['registration', 'control', 'mux', 'task', 'iopub', 'notification'].map(
      (c) => info[c],
    );
    expect(new Set(locals).size).toBe(locals.length);
    const human = await cli(['connect', session.id], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(file);
    expect(human.stdout + human.stderr).not.toContain(String(info['key']));
  });

  it('runs a task on each engine through hpc_jupyter.client.ipyparallel: node1..node4', async () => {
    if (session === undefined || attached?.ipyparallel === undefined) throw new Error('no session');
    const ran = await localPython(IPP_PY, [session.id, attached.ipyparallel.connectionFile]);
    expect(lastJson(ran)).toEqual({ engines: 4, hosts: NODES, plain_hosts: NODES });
  });

  it('stops; the job leaves squeue and the client file goes', async () => {
    if (session === undefined || attached === undefined) throw new Error('no session');
    await stopEngine(env, session);
    sessions.splice(sessions.indexOf(session), 1);
    await waitGone(attached.directory);
  });
});

describe('a Spark cluster with a Spark Connect server on four nodes, from outside the job', () => {
  let session: EngineSession | undefined;
  let attached: Attach | undefined;

  it('starts, and `connect` forwards the Connect server and copies its token privately', async () => {
    session = await startEngine(env, 'spark', [
      '--nodes',
      '4',
      '--param',
      'cpusPerTask=1',
      '--param',
      'connectServer=true',
    ]);
    sessions.push(session);
    expect(session.connection).toMatchObject({ kind: 'spark', workers: 4, connect_server: true });
    expect(session.endpoints.map((e) => e.name)).toContain('connect');
    attached = await connectJson(session.id);
    expect(attached.kind).toBe('spark');
    const spark = attached.spark;
    if (spark === undefined) throw new Error('no spark section');
    expect(spark.remote).toMatch(/^sc:\/\/localhost:\d+$/);
    expect(mode(attached.directory)).toBe(0o700);
    expect(mode(spark.tokenFile)).toBe(0o600);
    const token = readFileSync(spark.tokenFile, 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const human = await cli(['connect', session.id], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(spark.remote);
    expect(human.stdout + human.stderr + JSON.stringify(attached)).not.toContain(token);
  });

  it('computes pi through hpc_jupyter.client.spark with tasks on node1..node4', async () => {
    if (session === undefined) throw new Error('no session');
    const ran = await localPython(SPARK_PY, [session.id, String(NUM_SAMPLES)]);
    const result = lastJson(ran) as { pi: number; hosts: string[] };
    expect(Math.abs(result.pi - Math.PI)).toBeLessThan(0.01);
    expect(result.hosts).toEqual(NODES);
  });

  it('refuses a client without the token, here and as the second user on the cluster', async () => {
    if (session === undefined || attached?.spark === undefined) throw new Error('no session');
    const here = await localPython(SPARK_STRANGER_PY, [attached.spark.remote]);
    const refused = { no_token: 'UNAUTHENTICATED', wrong_token: 'UNAUTHENTICATED' };
    expect(lastJson(here)).toEqual(refused);
    const server = session.endpoints.find((e) => e.name === 'connect');
    if (server === undefined) throw new Error('no connect endpoint');
    const there = await sshAs(
      'hpcjother',
      [JOB_PYTHON, '-', `sc://${server.host}:${server.port}`],
      SPARK_STRANGER_PY,
    );
    // Not to localhost, so pyspark will not send a token without TLS: refused either way.
    expect((lastJson(there) as Record<string, string>)['no_token']).toBe('UNAUTHENTICATED');
  }, 240_000);

  it('gives a kernel in the job `spark` on the same server', async () => {
    if (session === undefined) throw new Error('no session');
    const ran = await pythonInJob(session, SPARK_IN_JOB_PY);
    expect(lastJson(ran)).toEqual({ rows: 100, has_sc: false, connect: true });
  });

  it('keeps the token out of logs, argv and job metadata', async () => {
    if (session === undefined || attached?.spark === undefined) throw new Error('no session');
    const token = readFileSync(attached.spark.tokenFile, 'utf8').trim();
    const dir = session.sessionDir;
    const logs = await sshAs('hpcjtest', ['sh', '-c', `'cat ${dir}/job.log ${dir}/logs/*'`], '');
    expect(logs.stdout).toContain('Spark Connect server started');
    expect(logs.stdout).not.toContain(token);
    expect(await clusterScript('slurm', 'scontrol', 'show', 'job', session.jobId)).not.toContain(
      token,
    );
    const ps = await sshAs('hpcjtest', ['ps', '-eo', 'args'], '');
    expect(ps.stdout).toContain('SparkConnectServer');
    expect(ps.stdout).not.toContain(token);
  });

  it('stops; the job leaves squeue and the token file goes', async () => {
    if (session === undefined || attached === undefined) throw new Error('no session');
    await stopEngine(env, session);
    sessions.splice(sessions.indexOf(session), 1);
    await waitGone(attached.directory);
  });
});
