/**
 * Scaling a Dask cluster on the Slurm test cluster: a `dask` session with one 1-CPU worker on
 * each of four nodes, scaled to eight by a `dask-workers` session (an extra job whose workers join
 * the same scheduler with its certificate) and back to four by stopping it. Each count shows in
 * the scheduler and in the cluster's connection.json, and the extra job leaves squeue.
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
import { cli, privateAgentEnv, testCluster } from './support.js';

const COUNT_PY = `
import json
from hpc_jupyter.dask_engine import connect
client = connect()
workers = client.scheduler_info(n_workers=-1)["workers"].values()
print(json.dumps(sorted(w["name"] if isinstance(w["name"], str) else "base" for w in workers)))
`;

let env: Record<string, string>;
let base: EngineSession | undefined;
let extra: EngineSession | undefined;

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  for (const s of [extra, base]) if (s !== undefined) await cli(['stop', s.id], env);
  await cli(['agent', 'stop'], env);
});

async function workerNames(s: EngineSession): Promise<string[]> {
  return lastJson(await pythonInJob(s, COUNT_PY)) as string[];
}

/** The "workers" count of the session's connection.json, once it equals `want` (or times out). */
async function connectionCount(s: EngineSession, want: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ran = await sshAs('hpcjtest', ['cat', `${s.sessionDir}/connection.json`], '');
    const count = (JSON.parse(ran.stdout) as { workers: number }).workers;
    if (count === want || Date.now() > deadline) return count;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe('a Dask cluster scaled 4 -> 8 -> 4 with an extra worker job', () => {
  it('starts with four workers', async () => {
    base = await startEngine(env, 'dask', ['--nodes', '4', '--param', 'cpusPerTask=1']);
    expect(base.connection).toMatchObject({ workers: 4 });
    expect(await workerNames(base)).toHaveLength(4);
  });

  it('scales to eight: the extra job is ready once its four workers joined', async () => {
    if (base === undefined) throw new Error('no session');
    extra = await startEngine(env, 'dask-workers', [
      '--nodes',
      '4',
      '--param',
      'cpusPerTask=1',
      '--param',
      `cluster=${base.id}`,
    ]);
    expect(extra.connection).toMatchObject({ kind: 'dask-workers', workers: 4, cluster: base.id });
    const names = await workerNames(base);
    expect(names).toHaveLength(8);
    expect(names.filter((n) => n.startsWith(`${extra?.id ?? '?'}-node`))).toHaveLength(4);
    expect(await connectionCount(base, 8)).toBe(8);
  });

  it('scales back to four when the extra session stops, and its job leaves squeue', async () => {
    if (base === undefined || extra === undefined) throw new Error('no session');
    await stopEngine(env, extra);
    extra = undefined;
    expect(await connectionCount(base, 4)).toBe(4);
    expect(await workerNames(base)).toHaveLength(4);
  });

  it('stops', async () => {
    if (base === undefined) throw new Error('no session');
    await stopEngine(env, base);
    base = undefined;
  });
});
