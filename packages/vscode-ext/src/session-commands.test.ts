import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pickExact, pickLabel } from './fake-vscode.testutil';
import { START_LABEL } from './form-quick-pick';
import { activateWithTestAgent, readyJupyter, until, type Fixture } from './test-agent.testutil';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function run(f: Fixture, id: string, ...args: unknown[]): Promise<void> {
  const handler = f.fake.commands.get(id);
  if (handler === undefined) throw new Error(`${id} is not registered`);
  await handler(...args);
}

describe('commands of the HPC view', () => {
  it('stops a session after asking, from the tree', async () => {
    fx = await activateWithTestAgent({
      before: (_f, agent) => {
        agent.sessions.put(readyJupyter('s1'));
      },
    });
    fx.fake.messageScripts.push(() => undefined);
    await run(fx, 'hpcJupyter.stopSession', { kind: 'session', id: 's1' });
    expect(fx.agent.sessions.calls).not.toContain('stop s1');
    fx.fake.messageScripts.push(() => 'Stop');
    await run(fx, 'hpcJupyter.stopSession', { kind: 'session', id: 's1' });
    expect(fx.agent.sessions.calls).toContain('stop s1');
    expect(fx.fake.messages.at(-1)).toMatchObject({ modal: true, items: ['Stop'] });
    expect(fx.api.model.session('s1')?.state).toBe('stopping');
  });

  it('opens JupyterLab with the token through a private redirect page, never in the URL it opens', async () => {
    fx = await activateWithTestAgent({
      before: (_f, agent) => {
        agent.sessions.put(readyJupyter('s1'));
      },
    });
    await run(fx, 'hpcJupyter.openInBrowser', { kind: 'session', id: 's1' });
    expect(fx.fake.opened).toHaveLength(1);
    const opened = fx.fake.opened[0] ?? '';
    // openExternal's argument ends up in the browser's argv: no token there.
    expect(opened).not.toContain('token-of-s1');
    const page = opened.replace(/^file:\/\//, '');
    expect((await stat(page)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(page))).mode & 0o777).toBe(0o700);
    expect(await readFile(page, 'utf8')).toContain(
      'url=http://127.0.0.1:8888/sessions/s1/lab?token=token-of-s1"',
    );
  });

  it('asks which session when run from the palette', async () => {
    fx = await activateWithTestAgent({
      before: (_f, agent) => {
        agent.sessions.put(readyJupyter('s1'));
        agent.sessions.put(readyJupyter('s2', { state: 'completed' }));
      },
    });
    fx.fake.quickPickScripts.push((items) => {
      expect(items.map((i) => i.label)).toEqual(['JupyterLab s1']);
      return items[0];
    });
    await run(fx, 'hpcJupyter.openInBrowser');
    expect(fx.fake.opened).toHaveLength(1);
  });

  it("shows the job's log in an output channel", async () => {
    fx = await activateWithTestAgent({
      before: (_f, agent) => {
        agent.sessions.put(readyJupyter('s1'));
      },
    });
    await run(fx, 'hpcJupyter.showLogs', { kind: 'session', id: 's1' });
    const text = fx.fake.outputText('HPC Jupyter: Job Logs');
    expect(text).toContain('JupyterLab s1: session s1, job 1234 on lab');
    expect(text).toContain('log of s1');
  });

  it('relaunches a session with the same spec', async () => {
    fx = await activateWithTestAgent({
      before: (_f, agent) => {
        agent.sessions.put(
          readyJupyter('s1', { state: 'timed-out', params: { hours: 3 }, profile: 'lab2' }),
        );
      },
    });
    const f = fx;
    f.fake.messageScripts.push(() => undefined);
    const done = run(f, 'hpcJupyter.relaunchSession', { kind: 'session', id: 's1' });
    await until(() => f.agent.sessions.records.size === 2);
    const fresh = [...f.agent.sessions.records.values()].find((r) => r.id !== 's1');
    if (fresh === undefined) throw new Error('no new session');
    expect(fresh).toMatchObject({
      cluster: 'lab',
      template: 'jupyter',
      params: { hours: 3 },
      profile: 'lab2',
    });
    f.agent.sessions.put(readyJupyter(fresh.id));
    await done;
    expect(f.fake.messages.at(-1)?.message).toContain('is ready');
  });

  it('starts a job on the cluster it was invoked on', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    f.fake.quickPickScripts.push(pickExact('JupyterLab'), pickLabel(START_LABEL));
    f.fake.messageScripts.push(() => undefined);
    const done = run(f, 'hpcJupyter.startServer', { kind: 'cluster', name: 'lab' });
    await until(() => f.agent.sessions.records.size === 1);
    const [record] = [...f.agent.sessions.records.values()];
    if (record === undefined) throw new Error('no session');
    expect(record.cluster).toBe('lab');
    f.agent.sessions.put(readyJupyter(record.id));
    await done;
  });

  it('forgets an ended session', async () => {
    fx = await activateWithTestAgent({
      before: (_f, agent) => {
        agent.sessions.put(readyJupyter('s1', { state: 'failed' }));
      },
    });
    const f = fx;
    await run(f, 'hpcJupyter.forgetSession', { kind: 'session', id: 's1' });
    await until(() => f.api.model.session('s1') === undefined);
  });

  it('installs a profile as a kernel, if the launcher exists', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-cmd-'));
    const program = path.join(dir, 'hpc-jupyter');
    await writeFile(program, '#!/bin/sh\necho "  hpc-jupyter kernel --profile NAME -f FILE"\n');
    await chmod(program, 0o755);
    const dataDir = path.join(dir, 'data');
    fx = await activateWithTestAgent({
      env: { JUPYTER_DATA_DIR: dataDir, PATH: process.env['PATH'] ?? '' },
      before: (fake) => {
        fake.config.set('hpcJupyter.command', [program]);
      },
    });
    const f = fx;
    await until(() => f.api.model.catalog.profiles.length > 0);
    f.fake.quickPickScripts.push(pickLabel('Lab 2-node'));
    await run(f, 'hpcJupyter.installKernel');
    expect(f.fake.messages.map((m) => m.level)).toEqual(['info']);
    const spec = JSON.parse(
      await readFile(path.join(dataDir, 'kernels', 'hpcj-lab2', 'kernel.json'), 'utf8'),
    ) as { argv: string[]; env: Record<string, string> };
    expect(spec.argv).toEqual([program, 'kernel', '--profile', 'lab2', '-f', '{connection_file}']);
    expect(spec.env['HPC_JUPYTER_CONFIG']).toMatch(/clusters\.yaml$/);
  });

  it('refuses to install a kernel when the launcher is missing', async () => {
    fx = await activateWithTestAgent({
      before: (fake) => {
        fake.config.set('hpcJupyter.command', ['/bin/true']);
      },
    });
    const f = fx;
    await until(() => f.api.model.catalog.profiles.length > 0);
    await run(f, 'hpcJupyter.installKernel', { kind: 'profile', name: 'lab2' });
    expect(f.fake.messages.at(-1)).toMatchObject({ level: 'error' });
    expect(f.fake.messages.at(-1)?.message).toContain('no remote-kernel launcher');
  });
});
