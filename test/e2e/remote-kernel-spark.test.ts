/**
 * "Slurm 4-node Spark" under a real jupyter_server, as JupyterLab uses it: `kernelspec install
 * --template spark --nodes 4` makes a profile of the spark-kernel template (a Spark standalone
 * cluster across the job's nodes, and the kernel on the first with `spark` and `sc` made as it
 * starts), installed as a kernelspec in a temporary prefix (found through JUPYTER_PATH). A
 * session created through the server's REST API with @jupyterlab/services runs
 * `sc.defaultParallelism` and the seed's Monte Carlo pi, whose tasks ran on node1..node4; a
 * restart keeps the job and makes `spark` and `sc` again. Deleting the session cancels the job.
 */
import { readFileSync } from 'node:fs';
import { KernelManager, SessionManager, KernelSpecManager } from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from './jupyter-client.js';
import { serveKernelProfile, type KernelServer } from './jupyter-server.js';
import { clusterScript } from './support.js';

const PROFILE = 'e2e-slurm4-spark';
const SPEC = `hpcj-${PROFILE}`;

let served: KernelServer;

beforeAll(async () => {
  served = await serveKernelProfile(PROFILE, [
    '--cluster',
    'testlab',
    '--template',
    'spark',
    '--nodes',
    '4',
    '--hours',
    '0.5',
    '--name',
    'Slurm 4-node Spark',
  ]);
  // `--template spark` means the kernel whose job also runs Spark.
  expect(readFileSync(served.configFile, 'utf8')).toMatch(
    new RegExp(
      `${PROFILE}:\\n {4}displayName: Slurm 4-node Spark\\n {4}cluster: testlab\\n {4}template: spark-kernel\\n`,
    ),
  );
}, 120_000);

afterAll(async () => {
  await served.close();
});

// The seed's Fig. 10 in a notebook cell: nothing imported, `spark` and `sc` are there.
const CODE = `
import json, os, random, socket, time

def inside(p):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

NUM_SAMPLES = 2000000
t0 = time.time()
count = sc.parallelize(range(0, NUM_SAMPLES), sc.defaultParallelism).filter(inside).count()
wall = time.time() - t0
hosts = sorted(set(sc.parallelize(range(64), 64).map(lambda _: socket.gethostname()).collect()))
print(json.dumps({"parallelism": sc.defaultParallelism, "pi": 4.0 * count / NUM_SAMPLES,
                  "wall": wall, "hosts": hosts, "app": spark.sparkContext.appName,
                  "driver": socket.gethostname(), "job": os.environ["SLURM_JOB_ID"]}))
`;

describe('"Slurm 4-node Spark" in a real jupyter_server', () => {
  it('runs sc.defaultParallelism and a pi job on node1..node4, restarts in the job, and a delete cancels it', async () => {
    const serverSettings = served.settings;
    const specs = new KernelSpecManager({ serverSettings });
    await specs.ready;
    expect(specs.specs?.kernelspecs[SPEC]?.display_name).toBe('Slurm 4-node Spark');

    const kernelManager = new KernelManager({ serverSettings });
    const sessions = new SessionManager({ serverSettings, kernelManager });
    await sessions.ready;
    const t0 = Date.now();
    const session = await sessions.startNew({
      path: 'spark.ipynb',
      type: 'notebook',
      name: 'spark.ipynb',
      kernel: { name: SPEC },
    });
    try {
      const kernel = session.kernel;
      if (kernel === null) throw new Error('the session has no kernel');
      const info = await kernel.info;
      expect(info.language_info.name).toBe('python');

      // Sent at once: held while the job queues and Spark starts, answered once the kernel is up.
      const first = await execute(kernel, 'sc.defaultParallelism');
      expect(first.status).toBe('ok');
      // 4 nodes x 2 CPUs (the template's default CPUs per node, all a test node has): one
      // executor per worker, every core of it.
      expect(first.result).toBe('8');
      const readyS = (Date.now() - t0) / 1000;

      const pi = await execute(kernel, CODE);
      expect(pi.status, pi.stderr).toBe('ok');
      const result = JSON.parse(pi.stdout.trim().split('\n').pop() ?? '') as {
        parallelism: number;
        pi: number;
        wall: number;
        hosts: string[];
        driver: string;
        job: string;
      };
      expect(result.parallelism).toBe(8);
      expect(Math.abs(result.pi - Math.PI)).toBeLessThan(0.01);
      expect(result.hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
      expect(result.driver).toBe('node1');
      console.log(
        `[remote-kernel-spark] Slurm job ${result.job}: first answer after ${readyS.toFixed(1)} s, ` +
          `pi=${result.pi} in ${result.wall.toFixed(2)} s on ${result.hosts.join(' ')}`,
      );

      // A restart starts the kernel again in the same job, and with it a new SparkSession on the
      // same Spark cluster (the old driver went with the old kernel).
      await kernel.restart();
      const again = await execute(
        kernel,
        'import os; print(os.environ["SLURM_JOB_ID"], "hosts" in dir()); sc.defaultParallelism',
      );
      expect(again.status, again.stderr).toBe('ok');
      expect(again.stdout.trim()).toBe(`${result.job} False`);
      expect(again.result).toBe('8');

      await session.shutdown();
      const deadline = Date.now() + 30_000;
      while (
        (await clusterScript('slurm', 'squeue', '--noheader', `--jobs=${result.job}`)).trim() !== ''
      ) {
        if (Date.now() > deadline)
          throw new Error(`job ${result.job} still queued 30 s after the shutdown`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      session.dispose();
      sessions.dispose();
      kernelManager.dispose();
    }
  }, 900_000);
});
