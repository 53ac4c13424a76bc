/**
 * The `dask` template end to end on the 4-node Slurm test cluster: `hpc-jupyter start dask`
 * returns once all four workers have registered; the kernel start-up code gives `client`; the
 * seed's Monte Carlo pi (Fig. 10, 2e7 samples, dask.bag) runs on node1..node4; the second test
 * user can reach the scheduler's port but not talk to it without the job's certificate; the TLS
 * key appears in no log, argv or job metadata.
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

const PI_PY = `
from hpc_jupyter.startup import *  # what a kernel in the job runs: gives \`client\`
import json, random, socket, time
import dask.bag as db

def inside(_):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

NUM_SAMPLES = ${NUM_SAMPLES}
t0 = time.time()
bag = db.range(NUM_SAMPLES, npartitions=64)
total = bag.filter(inside).count().compute()
wall = time.time() - t0
hosts = sorted(set(bag.map_partitions(lambda p: [socket.gethostname()]).compute()))
print(json.dumps({"pi": 4.0 * total / NUM_SAMPLES, "wall": wall, "hosts": hosts,
                  "workers": len(client.scheduler_info(n_workers=-1)["workers"])}))
`;

// Run as hpcjother on the login node: a TLS handshake without a certificate, a plain TCP
// Dask client, and reading the job's key file.
const STRANGER_PY = `
import json, socket, ssl, sys
host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {}
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"x" * 16)
            out["tls_without_cert"] = "answered %r" % s.recv(16)
except Exception as e:
    out["tls_without_cert"] = "refused"
from distributed import Client
try:
    Client("tcp://%s:%d" % (host, port), timeout=5)
    out["plain_client"] = "connected"
except Exception:
    out["plain_client"] = "refused"
try:
    open(key).read()
    out["key_file"] = "readable"
except OSError:
    out["key_file"] = "unreadable"
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

describe('a Dask cluster on four Slurm nodes', () => {
  it('is ready once all four workers have registered', async () => {
    session = await startEngine(env, 'dask', ['--nodes', '4']);
    expect(session.nodes).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(session.connection).toMatchObject({ kind: 'dask', workers: 4, expected_workers: 4 });
    expect(session.connection['scheduler']).toMatch(/^tls:\/\/10\.[0-9.]+:\d+$/);
    expect(session.endpoints.map((e) => e.name)).toEqual(['scheduler', 'dashboard']);
    const log = await sshAs('hpcjtest', ['cat', `${session.sessionDir}/job.log`], '');
    expect(log.stdout).toContain('4/4 Dask workers registered');
  });

  it('computes pi with the seed code on node1..node4 through `client`', async () => {
    if (session === undefined) throw new Error('no session');
    const ran = await pythonInJob(session, PI_PY);
    const result = lastJson(ran) as { pi: number; hosts: string[]; workers: number; wall: number };
    expect(Math.abs(result.pi - Math.PI)).toBeLessThan(0.01);
    expect(result.hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(result.workers).toBe(4);
  });

  it('refuses a second user without the certificate', async () => {
    if (session === undefined) throw new Error('no session');
    const endpoint = session.endpoints.find((e) => e.name === 'scheduler');
    if (endpoint === undefined) throw new Error('no scheduler endpoint');
    const ran = await sshAs(
      'hpcjother',
      [
        JOB_PYTHON,
        '-',
        endpoint.host,
        String(endpoint.port),
        `${session.sessionDir}/dask-tls/key.pem`,
      ],
      STRANGER_PY,
    );
    expect(lastJson(ran)).toEqual({
      tls_without_cert: 'refused',
      plain_client: 'refused',
      key_file: 'unreadable',
    });
  });

  it('keeps the key out of logs, argv and job metadata', async () => {
    if (session === undefined) throw new Error('no session');
    const dir = session.sessionDir;
    const key = await sshAs('hpcjtest', ['cat', `${dir}/dask-tls/key.pem`], '');
    const secret = key.stdout.split('\n').find((l) => l.length > 40 && !l.startsWith('-----'));
    expect(secret, key.stderr).toBeDefined();
    const logs = await sshAs('hpcjtest', ['sh', '-c', `'cat ${dir}/job.log ${dir}/logs/*'`], '');
    expect(logs.stdout).toContain('Registered to');
    expect(logs.stdout).not.toContain(secret);
    const meta = await clusterScript('slurm', 'scontrol', 'show', 'job', session.jobId);
    expect(meta).not.toContain(secret);
    const ps = await sshAs('hpcjtest', ['ps', '-eo', 'args'], '');
    expect(ps.stdout).not.toContain(secret);
  });

  it('stops, and the job leaves squeue', async () => {
    if (session === undefined) throw new Error('no session');
    await stopEngine(env, session);
    session = undefined;
  });
});
