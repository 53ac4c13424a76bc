/**
 * The `ipyparallel` template end to end on the 4-node Slurm test cluster: ready once four
 * engines (one per node) have registered; an IPython shell running the kernel start-up code gets
 * `rc` with `%px` active, and `%px` hostnames are node1..node4; the seed's Monte Carlo pi (2e7
 * samples) runs on the engines; the second test user cannot read the client file, and a client
 * with the right ports but without the key gets no answer. With `mpi`, the engines are one MPI
 * program across the four nodes: engine ids are the ranks, and an allreduce over
 * MPI.COMM_WORLD sums them on every engine.
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
import { privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

// An IPython shell, as in a kernel: the start-up code, then %px cells.
const PX_PY = `
import json, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
for cell in ("from hpc_jupyter.startup import *", "%px import socket", "%px host = socket.gethostname()"):
    ip.run_cell(cell).raise_error()
rc = ip.user_ns["rc"]
hosts = rc[:].pull("host", block=True)

def count(n):
    import random
    def inside(_):
        x, y = random.random(), random.random()
        return x*x + y*y < 1
    return sum(1 for i in range(n) if inside(i))

NUM_SAMPLES = ${NUM_SAMPLES}
parts = len(rc.ids) * 4
t0 = time.time()
total = sum(rc[:].map_sync(count, [NUM_SAMPLES // parts] * parts))
print(json.dumps({"hosts": sorted(hosts), "engines": len(rc.ids),
                  "pi": 4.0 * total / (NUM_SAMPLES // parts * parts), "wall": time.time() - t0}))
`;

// As hpcjother: read the client file; then connect with its ports and a wrong key.
const STRANGER_PY = `
import base64, json, os, sys, uuid
out = {}
try:
    open(sys.argv[1]).read()
    out["client_file"] = "readable"
except OSError:
    out["client_file"] = "unreadable"
info = json.loads(base64.b64decode(sys.argv[2]))
info["key"] = str(uuid.uuid4())
path = os.path.expanduser("~/.hpcj-stranger-client.json")
with open(path, "w") as f:
    json.dump(info, f)
import ipyparallel
try:
    rc = ipyparallel.Client(path, timeout=8)
    out["client_without_key"] = "connected to %d engines" % len(rc.ids)
except Exception as e:
    out["client_without_key"] = "refused"
os.unlink(path)
print(json.dumps(out))
`;

// The engines as one MPI program: rank, size and host of each, and an allreduce across them.
const MPI_PY = `
import json
from hpc_jupyter.startup import *
def mpi_view():
    import socket
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    return comm.Get_rank(), comm.Get_size(), socket.gethostname(), comm.allreduce(comm.Get_rank())
views = rc[:].apply_sync(mpi_view)
print(json.dumps({"ids": sorted(rc.ids), "ranks": sorted(v[0] for v in views),
                  "sizes": sorted({v[1] for v in views}), "hosts": sorted({v[2] for v in views}),
                  "sums": sorted({v[3] for v in views}),
                  "id_is_rank": all(i == v[0] for i, v in zip(rc.ids, views))}))
`;

let env: Record<string, string>;
let session: EngineSession | undefined;

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  await stopPrivateAgent(env); // stops whatever a failed test left running
});

describe('an ipyparallel cluster on four Slurm nodes', () => {
  it('is ready once all four engines have registered', async () => {
    session = await startEngine(env, 'ipyparallel', ['--nodes', '4']);
    expect(session.nodes).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(session.connection).toMatchObject({
      kind: 'ipyparallel',
      engines: 4,
      expected_engines: 4,
    });
    // Every port a client connects to, so the agent can forward them to a client outside.
    expect(session.endpoints.map((e) => e.name)).toEqual([
      'controller',
      'ipp-control',
      'ipp-mux',
      'ipp-task',
      'ipp-iopub',
      'ipp-notification',
      'ipp-broadcast',
    ]);
  });

  it('gives `rc` with %px, on node1..node4, and computes pi', async () => {
    if (session === undefined) throw new Error('no session');
    const result = lastJson(await pythonInJob(session, PX_PY)) as {
      hosts: string[];
      engines: number;
      pi: number;
    };
    expect(result.hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(result.engines).toBe(4);
    expect(Math.abs(result.pi - Math.PI)).toBeLessThan(0.01);
  });

  it('refuses a client without the key', async () => {
    if (session === undefined) throw new Error('no session');
    const file = `${session.sessionDir}/ipyparallel/security/ipcontroller-client.json`;
    const withKey = await sshAs('hpcjtest', ['cat', file], '');
    const info = JSON.parse(withKey.stdout) as Record<string, unknown>;
    const key = String(info['key']);
    delete info['key'];
    // The key-less connection info travels as base64 in argv: plain words for the remote shell.
    const encoded = Buffer.from(JSON.stringify(info)).toString('base64');
    const stranger = await sshAs('hpcjother', [JOB_PYTHON, '-', file, encoded], STRANGER_PY);
    expect(lastJson(stranger)).toEqual({
      client_file: 'unreadable',
      client_without_key: 'refused',
    });
    const log = await sshAs('hpcjtest', ['sh', '-c', `'cat ${session.sessionDir}/job.log'`], '');
    expect(log.stdout).not.toContain(key);
  });

  it('stops, and the job leaves squeue', async () => {
    if (session === undefined) throw new Error('no session');
    await stopEngine(env, session);
    session = undefined;
  });
});

describe('ipyparallel engines as one MPI program on four Slurm nodes', () => {
  let mpi: EngineSession | undefined;

  it('registers all four ranks, one per node, and they allreduce over MPI.COMM_WORLD', async () => {
    mpi = await startEngine(env, 'ipyparallel', ['--nodes', '4', '--param', 'mpi=true']);
    expect(mpi.connection).toMatchObject({ kind: 'ipyparallel', engines: 4 });
    expect(lastJson(await pythonInJob(mpi, MPI_PY))).toEqual({
      ids: [0, 1, 2, 3],
      ranks: [0, 1, 2, 3],
      sizes: [4],
      hosts: ['node1', 'node2', 'node3', 'node4'],
      sums: [6],
      id_is_rank: true,
    });
  });

  it('stops, and the job leaves squeue', async () => {
    if (mpi === undefined) throw new Error('no session');
    await stopEngine(env, mpi);
  });
});
