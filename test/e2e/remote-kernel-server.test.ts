/**
 * A remote kernel under a real jupyter_server, as JupyterLab uses it: the "Slurm 4-node Python"
 * profile installed as a kernelspec in a temporary prefix (found through JUPYTER_PATH), a
 * session created through the server's REST API with @jupyterlab/services, code executed over
 * its WebSocket: it runs in a 4-node Slurm job on the test cluster, and a step started from the
 * notebook reaches all four nodes. Deleting the session cancels the job.
 */
import { KernelManager, SessionManager, KernelSpecManager } from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveKernelProfile, type KernelServer } from './jupyter-server.js';
import { clusterScript } from './support.js';

const PROFILE = 'e2e-slurm4';
const SPEC = `hpcj-${PROFILE}`;

let served: KernelServer;

beforeAll(async () => {
  served = await serveKernelProfile(PROFILE, [
    '--cluster',
    'testlab',
    '--nodes',
    '4',
    '--hours',
    '0.5',
    '--name',
    'Slurm 4-node Python',
  ]);
}, 120_000);

afterAll(async () => {
  await served.close();
});

const CODE = [
  'import os, socket, subprocess',
  "step = subprocess.run(['srun', '--overlap', '--nodes=4', '--ntasks=4', 'hostname'],",
  '                      capture_output=True, text=True, timeout=120)',
  "print(socket.gethostname(), os.environ['SLURM_JOB_ID'], os.environ['SLURM_JOB_NUM_NODES'])",
  "print(' '.join(sorted(step.stdout.split())))",
].join('\n');

describe('a remote kernel in a real jupyter_server', () => {
  it('runs a notebook session in a 4-node Slurm job, and deleting the session cancels it', async () => {
    const serverSettings = served.settings;
    const specs = new KernelSpecManager({ serverSettings });
    await specs.ready;
    expect(specs.specs?.kernelspecs[SPEC]?.display_name).toBe('Slurm 4-node Python');

    const kernelManager = new KernelManager({ serverSettings });
    const sessions = new SessionManager({ serverSettings, kernelManager });
    await sessions.ready;
    const session = await sessions.startNew({
      path: 'remote.ipynb',
      type: 'notebook',
      name: 'remote.ipynb',
      kernel: { name: SPEC },
    });
    try {
      const kernel = session.kernel;
      if (kernel === null) throw new Error('the session has no kernel');
      const info = await kernel.info;
      expect(info.language_info.name).toBe('python');

      let stdout = '';
      const future = kernel.requestExecute({ code: CODE });
      future.onIOPub = (msg) => {
        const content = msg.content as { name?: string; text?: string };
        if (msg.header.msg_type === 'stream' && content.name === 'stdout')
          stdout += content.text ?? '';
      };
      const reply = await future.done;
      expect(reply.content.status).toBe('ok');
      const [first, hosts] = stdout.trim().split('\n') as [string, string];
      const [host, jobId, nodes] = first.split(' ') as [string, string, string];
      expect(host).toMatch(/^node[1-4]$/);
      expect(nodes).toBe('4');
      expect(hosts).toBe('node1 node2 node3 node4');
      console.log(`[remote-kernel-server] ran on ${host} in Slurm job ${jobId}: ${hosts}`);

      await session.shutdown();
      const deadline = Date.now() + 15_000;
      while (
        (await clusterScript('slurm', 'squeue', '--noheader', `--jobs=${jobId}`)).trim() !== ''
      ) {
        if (Date.now() > deadline)
          throw new Error(`job ${jobId} still queued 15 s after the shutdown`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      session.dispose();
      sessions.dispose();
      kernelManager.dispose();
    }
  }, 300_000);
});
