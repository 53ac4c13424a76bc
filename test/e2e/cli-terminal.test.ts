/**
 * `hpc-jupyter start` on a real terminal (a pty from util-linux `script`), while the cluster is
 * full so the job queues: the live line shows the queue state, Ctrl-C asks whether to cancel,
 * and "yes" cancels the job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { SshTransport } from '../../packages/core/src/transport/ssh.js';
import {
  CLI,
  cli,
  waitLeftSqueue,
  privateAgentEnv,
  slurmFor,
  sshTransportFor,
  testCluster,
  waitFor,
  type TestCluster,
} from './support.js';

let cluster: TestCluster;
let transport: SshTransport;
let blocker: string;
let env: Record<string, string>;

beforeAll(async () => {
  cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  transport = sshTransportFor(cluster.testlab);
  const home = (await transport.run(['printenv', 'HOME'])).stdout.trim();
  // Hold all four nodes so that the session's job waits in the queue.
  blocker = await slurmFor(transport).submit({
    script: '#!/bin/bash\nsleep 600\n',
    resources: {
      name: `hpcj-e2e-blocker-${randomBytes(3).toString('hex')}`,
      nodes: 4,
      walltimeMinutes: 15,
      workdir: home,
      output: '/dev/null',
    },
  });
  await waitFor(slurmFor(transport), blocker, (s) => s.state === 'starting');
});

afterAll(async () => {
  await slurmFor(transport).cancel([blocker]);
  await transport.close();
  await cli(['agent', 'stop'], env);
});

describe('hpc-jupyter start on a terminal', () => {
  it('shows the queue state, and Ctrl-C then "yes" cancels the job', async () => {
    const child = spawn(
      'script',
      [
        '-qfec',
        `${process.execPath} ${CLI} start jupyter --cluster testlab --hours 1`,
        '/dev/null',
      ],
      {
        env: { ...process.env, ...env, TERM: 'xterm' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    const seen = async (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(screen);
        if (match !== null) return match;
        if (Date.now() > deadline)
          throw new Error(`not on the terminal after ${timeoutMs} ms: ${pattern}\n${screen}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

    const queued = await seen(/job (\d+) on testlab: QUEUED \((Resources|Priority)\)/, 60_000);
    const jobId = queued[1] ?? '';
    await seen(/0:0[2-9] elapsed/, 20_000); // the line is live: elapsed time ticks
    child.stdin.write('\x03');
    await seen(/Cancel session s[0-9a-f]{12} \(job \d+\)\? \(yes\/no\)/, 10_000);
    child.stdin.write('yes\r');
    await seen(/Cancelled session/, 20_000);
    expect(await exited).toBe(130);
    await waitLeftSqueue(jobId, 60_000, 'cancel');
  });
});
