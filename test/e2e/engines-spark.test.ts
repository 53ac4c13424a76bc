/**
 * The `spark` template end to end on the 4-node Slurm test cluster: ready once four workers have
 * registered with the master; the kernel start-up code gives `spark` and `sc`; the seed's Fig. 10
 * (sc.defaultParallelism, then Monte Carlo pi with 2e7 samples) runs with tasks on node1..node4;
 * a driver of the second test user without the secret is refused by the master; the secret is in
 * no argv, log or job metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NUM_SAMPLES,
  JOB_PYTHON,
  lastJson,
  pythonInJob,
  sshAs,
  startEngine,
  stopEngine,
  type EngineSession,
} from './engines-support.js';
import { cli, clusterScript, privateAgentEnv, testCluster } from './support.js';

// The seed's Fig. 10, as a kernel in the job runs it.
const PI_PY = `
from hpc_jupyter.startup import *  # gives \`spark\` and \`sc\`
import json, random, socket, time
print("Number of cores: %d" % sc.defaultParallelism)

def inside(p):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

def count(n):
    return sc.parallelize(range(0, n)).filter(inside).count()

NUM_SAMPLES = ${NUM_SAMPLES}
t0 = time.time()
total_count = count(NUM_SAMPLES)
wall = time.time() - t0
hosts = sorted(set(sc.parallelize(range(64), 64).map(lambda _: socket.gethostname()).collect()))
print(json.dumps({"pi": 4.0 * total_count / NUM_SAMPLES, "wall": wall, "hosts": hosts,
                  "parallelism": sc.defaultParallelism}))
spark.stop()
`;

// As hpcjother on a node: read the properties file; then a driver with authentication on but
// a secret of its own, which the master must refuse (the SparkContext is stopped once every
// registration attempt failed).
const STRANGER_PY = `
import json, os, sys, time
out = {}
try:
    open(sys.argv[2]).read()
    out["properties_file"] = "readable"
except OSError:
    out["properties_file"] = "unreadable"
os.environ["PYSPARK_PYTHON"] = sys.executable
from pyspark import SparkConf, SparkContext
conf = (SparkConf().setMaster(sys.argv[1]).setAppName("stranger")
        .set("spark.authenticate", "true").set("spark.authenticate.secret", "not-the-secret")
        .set("spark.network.crypto.enabled", "true").set("spark.ui.enabled", "false"))
try:
    sc = SparkContext(conf=conf)
    deadline = time.time() + 150
    while time.time() < deadline and not sc._jsc.sc().isStopped():
        time.sleep(1)
    out["driver_without_secret"] = "refused" if sc._jsc.sc().isStopped() else "registered"
except Exception:
    out["driver_without_secret"] = "refused"
print(json.dumps(out))
`;

let env: Record<string, string>;
let session: EngineSession | undefined;

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  if (session !== undefined) await cli(['stop', session.id], env);
  await cli(['agent', 'stop'], env);
});

describe('a Spark standalone cluster on four Slurm nodes', () => {
  it('is ready once all four workers have registered', async () => {
    session = await startEngine(env, 'spark', ['--nodes', '4']);
    expect(session.nodes).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(session.connection).toMatchObject({ kind: 'spark', workers: 4, expected_workers: 4 });
    expect(session.connection['master']).toMatch(/^spark:\/\/10\.[0-9.]+:\d+$/);
    expect(session.endpoints.map((e) => e.name)).toEqual(['master', 'master-ui', 'app-ui']);
  });

  it('runs the seed pi through `sc` on node1..node4', async () => {
    if (session === undefined) throw new Error('no session');
    const ran = await pythonInJob(session, PI_PY);
    expect(ran.stdout).toMatch(/Number of cores: \d+/);
    const result = lastJson(ran) as { pi: number; hosts: string[]; parallelism: number };
    expect(result.parallelism).toBe(4 * Number(session.connection['cores_per_worker']));
    expect(Math.abs(result.pi - Math.PI)).toBeLessThan(0.01);
    expect(result.hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
  });

  it('refuses a driver without the secret', async () => {
    if (session === undefined) throw new Error('no session');
    const master = String(session.connection['master']);
    const ran = await sshAs(
      'hpcjother',
      [JOB_PYTHON, '-', master, `${session.sessionDir}/spark/spark.conf`],
      STRANGER_PY,
    );
    expect(lastJson(ran)).toEqual({
      properties_file: 'unreadable',
      driver_without_secret: 'refused',
    });
  }, 240_000);

  it('keeps the secret out of logs, argv and job metadata', async () => {
    if (session === undefined) throw new Error('no session');
    const dir = session.sessionDir;
    const conf = await sshAs('hpcjtest', ['cat', `${dir}/spark/spark.conf`], '');
    const secret = /^spark\.authenticate\.secret (\S+)$/m.exec(conf.stdout)?.[1];
    expect(secret, conf.stderr).toMatch(/^[0-9a-f]{64}$/);
    const logs = await sshAs('hpcjtest', ['sh', '-c', `'cat ${dir}/job.log ${dir}/logs/*'`], '');
    expect(logs.stdout).toContain('Successfully registered with master');
    expect(logs.stdout).not.toContain(secret);
    const meta = await clusterScript('slurm', 'scontrol', 'show', 'job', session.jobId);
    expect(meta).not.toContain(secret);
    const ps = await sshAs('hpcjtest', ['ps', '-eo', 'args'], '');
    expect(ps.stdout).toContain('org.apache.spark.deploy.worker.Worker');
    expect(ps.stdout).not.toContain(secret);
  });

  it('stops, and the job leaves squeue', async () => {
    if (session === undefined) throw new Error('no session');
    await stopEngine(env, session);
    session = undefined;
  });
});
