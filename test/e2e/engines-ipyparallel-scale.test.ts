/**
 * Scaling an ipyparallel cluster on the Slurm test cluster: an `ipyparallel` session with one
 * 1-CPU engine on each of four nodes, scaled to eight by an `ipyparallel-engines` session (an
 * extra job whose engines register with the same controller through its engine file) and back
 * to four by stopping it. `%px` reaches all eight engines, node1..node4 twice; each count shows in
 * the controller and in the cluster's connection.json; the controller's key is in none of the
 * extra session's files nor its job record; the extra job leaves squeue. How long scaling up
 * (start to ready) and down (stop to the count back at four) take is printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lastJson,
  pythonInJob,
  sshAs,
  startEngine,
  stopEngine,
  type EngineSession,
} from './engines-support.js';
import { clusterScript, privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

// An IPython shell in the cluster's job, as in a kernel: the start-up code, then %px cells.
const PX_PY = `
import json
from IPython.core.interactiveshell import InteractiveShell
from hpc_jupyter.ipp_engine import engine_identities
ip = InteractiveShell.instance()
for cell in ("from hpc_jupyter.startup import *", "%px import socket", "%px host = socket.gethostname()"):
    ip.run_cell(cell).raise_error()
rc = ip.user_ns["rc"]
print(json.dumps({"hosts": sorted(rc[:].pull("host", block=True)), "engines": len(rc.ids),
                  "names": sorted(engine_identities(rc))}))
`;

let env: Record<string, string>;
let base: EngineSession | undefined;
let extra: EngineSession | undefined;
const timings: Record<string, number> = {};

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  await stopPrivateAgent(env);
  console.log(`ipyparallel scaling on Slurm (ms): ${JSON.stringify(timings)}`);
});

async function engines(s: EngineSession) {
  return lastJson(await pythonInJob(s, PX_PY)) as {
    hosts: string[];
    engines: number;
    names: string[];
  };
}

/** The "engines" count of the session's connection.json once it equals `want` (or times out). */
async function connectionCount(s: EngineSession, want: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ran = await sshAs('hpcjtest', ['cat', `${s.sessionDir}/connection.json`], '');
    const conn = JSON.parse(ran.stdout) as { engines: number; workers: number };
    if ((conn.engines === want && conn.workers === want) || Date.now() > deadline) {
      return conn.engines;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('an ipyparallel cluster scaled 4 -> 8 -> 4 with an extra engine job', () => {
  it('starts with four engines', async () => {
    base = await startEngine(env, 'ipyparallel', ['--nodes', '4', '--param', 'cpusPerTask=1']);
    expect(base.connection).toMatchObject({ kind: 'ipyparallel', engines: 4, workers: 4 });
    timings['base ready'] = base.readyMs;
  });

  it('scales to eight: the extra job is ready once its four engines registered', async () => {
    if (base === undefined) throw new Error('no session');
    extra = await startEngine(env, 'ipyparallel-engines', [
      '--nodes',
      '4',
      '--param',
      'cpusPerTask=1',
      '--param',
      `cluster=${base.id}`,
    ]);
    timings['scale up: start to ready'] = extra.readyMs;
    expect(extra.nodes).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(extra.connection).toMatchObject({
      kind: 'ipyparallel-engines',
      cluster: base.id,
      workers: 4,
      expected_workers: 4,
    });
    const seen = await engines(base);
    expect(seen.engines).toBe(8);
    const nodes = ['node1', 'node2', 'node3', 'node4'];
    expect(seen.hosts).toEqual([...nodes, ...nodes].sort());
    expect(seen.names.filter((n) => n.startsWith(`${extra?.id ?? '?'}-node`))).toHaveLength(4);
    expect(await connectionCount(base, 8)).toBe(8);
  });

  it('keeps the controller key out of the extra session’s files and job record', async () => {
    if (base === undefined || extra === undefined) throw new Error('no session');
    const file = `${base.sessionDir}/ipyparallel/security/ipcontroller-engine.json`;
    const key = String(
      (JSON.parse((await sshAs('hpcjtest', ['cat', file], '')).stdout) as { key: unknown }).key,
    );
    expect(key.length).toBeGreaterThan(8);
    // The key goes to grep on stdin, not in its argv.
    const grep = await sshAs('hpcjtest', ['grep', '-rlF', '-f', '-', extra.sessionDir], key);
    expect(grep.code, grep.stdout).toBe(1);
    const record = await clusterScript('slurm', 'scontrol', 'show', 'job', extra.jobId);
    expect(record).toContain(extra.jobId);
    expect(record).not.toContain(key);
  });

  it('scales back to four when the extra session stops, and its job leaves squeue', async () => {
    if (base === undefined || extra === undefined) throw new Error('no session');
    const t0 = Date.now();
    const stopped = stopEngine(env, extra);
    expect(await connectionCount(base, 4)).toBe(4);
    timings['scale down: stop to count 4'] = Date.now() - t0;
    // The engines unregister on SIGTERM (hpc_jupyter.ipp_extra_engine); plain ipengines leave
    // only after 30 missed heartbeats, 32.5 s here.
    expect(timings['scale down: stop to count 4']).toBeLessThan(10_000);
    await stopped;
    timings['scale down: stop to out of squeue'] = Date.now() - t0;
    extra = undefined;
    const seen = await engines(base);
    expect(seen.engines).toBe(4);
    expect(seen.hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
  });

  it('stops', async () => {
    if (base === undefined) throw new Error('no session');
    await stopEngine(env, base);
    base = undefined;
  });
});
