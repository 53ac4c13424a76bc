import { afterEach, describe, expect, it } from 'vitest';
import type { JupyterServer } from '@vscode/jupyter-extension';
import { InvalidParametersError } from '../../core/src/errors.js';
import { fakeRecord } from '../../core/src/agent/fake-session-service.js';
import { noToken, pickExact, pickLabel } from './fake-vscode.testutil';
import { CONNECT_COMMAND_LABEL, HpcServerProvider, START_COMMAND_LABEL } from './server-provider';
import { SEARCH_LABEL } from './connect-flow';
import { START_LABEL } from './form-quick-pick';
import { activateWithTestAgent, readyJupyter, until, type Fixture } from './test-agent.testutil';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

function provider(f: Fixture): HpcServerProvider {
  expect(f.fake.collections[0]?.provider).toBe(f.api.provider);
  return f.api.provider;
}

function ids(servers: readonly JupyterServer[] | null | undefined): string[] {
  return (servers ?? []).map((s) => s.id);
}

describe('the HPC clusters server collection', () => {
  it('lists ready Jupyter sessions by session id and resolves them to the tunnel and token', async () => {
    fx = await activateWithTestAgent({
      before: (_fake, agent) => {
        agent.sessions.put(readyJupyter('s0000000000a1'));
        agent.sessions.put(readyJupyter('s0000000000a2', { state: 'queued', readyAt: undefined }));
      },
    });
    const p = provider(fx);
    expect(fx.fake.collections[0]).toMatchObject({ id: 'hpc-jupyter', label: 'HPC clusters' });
    expect(fx.fake.collections[0]?.commandProvider).toBe(p);
    const servers = await p.provideJupyterServers(noToken());
    expect(servers).toEqual([
      { id: 's0000000000a1', label: 'JupyterLab s0000000000a1 · job 1234' },
    ]);
    const resolved = await p.resolveJupyterServer(servers[0] as JupyterServer, noToken());
    expect(resolved.connectionInformation?.baseUrl.toString()).toBe(
      'http://127.0.0.1:8888/sessions/s0000000000a1/',
    );
    expect(resolved.connectionInformation?.token).toBe('token-of-s0000000000a1');
    expect(fx.agent.sessions.calls).toContain('access s0000000000a1 ');
  });

  it('announces servers as they become ready and drops them when they end', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    const p = provider(f);
    let fired = 0;
    p.onDidChangeServers(() => fired++);
    expect(await p.provideJupyterServers(noToken())).toEqual([]);
    f.agent.sessions.put(readyJupyter('s0000000000b1', { state: 'starting', readyAt: undefined }));
    await until(() => f.api.model.session('s0000000000b1') !== undefined);
    expect(fired).toBe(0);
    fx.agent.sessions.update('s0000000000b1', {
      state: 'ready',
      readyAt: new Date().toISOString(),
    });
    await until(() => fired === 1);
    expect(ids(await p.provideJupyterServers(noToken()))).toEqual(['s0000000000b1']);
    f.agent.sessions.update('s0000000000b1', { state: 'stopping' });
    await until(() => fired === 2);
    expect(await p.provideJupyterServers(noToken())).toEqual([]);
  });

  it('keeps the same servers while the agent restarts, and they resolve again', async () => {
    fx = await activateWithTestAgent({
      before: (_fake, agent) => {
        agent.sessions.put(readyJupyter('s0000000000c1'));
      },
    });
    const p = provider(fx);
    expect(ids(await p.provideJupyterServers(noToken()))).toEqual(['s0000000000c1']);
    await fx.stopAgent();
    await until(() => fx?.api.model.live === false);
    expect(ids(await p.provideJupyterServers(noToken()))).toEqual(['s0000000000c1']);
    await expect(
      p.resolveJupyterServer({ id: 's0000000000c1', label: 'x' }, noToken()),
    ).rejects.toThrow(/not running/);
    await fx.restartAgent();
    await until(() => fx?.api.model.live === true, 10_000);
    expect(ids(await p.provideJupyterServers(noToken()))).toEqual(['s0000000000c1']);
    const again = await p.resolveJupyterServer({ id: 's0000000000c1', label: 'x' }, noToken());
    expect(again.connectionInformation?.token).toBe('token-of-s0000000000c1');
  });

  it('answers with the last known servers after a reload while the agent is down', async () => {
    const first = await activateWithTestAgent({
      before: (_fake, agent) => {
        agent.sessions.put(readyJupyter('s0000000000d1'));
      },
    });
    expect(ids(await provider(first).provideJupyterServers(noToken()))).toEqual(['s0000000000d1']);
    const context = first.context;
    await first.close();
    // A new window, same global state, and no agent answering.
    fx = await activateWithTestAgent({
      waitLoaded: false,
      context: { ...context, subscriptions: [] },
      before: async (_fake, agent) => {
        await agent.server.close();
      },
    });
    expect(ids(await provider(fx).provideJupyterServers(noToken()))).toEqual(['s0000000000d1']);
  });

  it('offers to start a server, connect to one, or start a server profile', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    await until(() => f.api.model.catalog.profiles.length > 0);
    const commands = provider(f).provideCommands();
    expect(commands.map((c) => c.label)).toEqual([
      START_COMMAND_LABEL,
      CONNECT_COMMAND_LABEL,
      'Start "Lab 2-node JupyterLab"',
    ]);
    expect(commands[0]?.canBeAutoSelected).toBe(true);
  });

  it('starts a server job from the quick picks, shows the queue, and returns it once ready', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    const p = provider(f);
    f.fake.quickPickScripts.push(
      pickExact('lab'),
      pickExact('JupyterLab'),
      pickLabel('Hours'),
      pickLabel(START_LABEL),
    );
    f.fake.inputScripts.push(() => '2');
    let listedWhenFired: string[] | undefined;
    p.onDidChangeServers(() => {
      void p.provideJupyterServers(noToken()).then((s) => (listedWhenFired ??= ids(s)));
    });
    const handled = p.handleCommand({ label: START_COMMAND_LABEL }, noToken());
    await until(() => f.agent.sessions.records.size === 1);
    const [record] = [...f.agent.sessions.records.values()];
    if (record === undefined) throw new Error('no session');
    expect(record.params).toMatchObject({ partition: 'debug', hours: 2, nodes: 1 });
    f.agent.sessions.update(record.id, { state: 'queued', reason: 'Resources', jobId: '42' });
    await until(
      () => f.fake.progress[0]?.messages.some((m) => m.includes('queued (Resources)')) === true,
    );
    expect(f.fake.progress[0]?.messages.at(-1)).toMatch(
      /^Job 42: queued \(Resources\), \d:\d\d elapsed$/,
    );
    f.agent.sessions.put(readyJupyter(record.id, { jobId: '42', createdAt: record.createdAt }));
    const server = await handled;
    expect(server.id).toBe(record.id);
    expect(server.connectionInformation?.baseUrl.toString()).toContain(`/sessions/${record.id}/`);
    await until(() => listedWhenFired !== undefined);
    expect(listedWhenFired).toContain(record.id);
    expect(f.fake.quickPickCalls[0]?.options?.title).toContain('(1/3)');
    expect(f.fake.inputCalls[0]?.prompt).toContain('(0.1 to 8)');
  });

  it('cancels the job when the progress notification is cancelled', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    f.fake.quickPickScripts.push(pickExact('lab'), pickExact('JupyterLab'), pickLabel(START_LABEL));
    const handled = provider(f).handleCommand({ label: START_COMMAND_LABEL }, noToken());
    await until(() => f.fake.progress.length === 1 && f.agent.sessions.records.size === 1);
    f.fake.progress[0]?.cancel();
    await expect(handled).rejects.toThrow('Canceled');
    await until(() => f.agent.sessions.calls.some((c) => c.startsWith('stop ')));
  });

  it('throws CancellationError when the user escapes the first step', async () => {
    fx = await activateWithTestAgent();
    fx.fake.quickPickScripts.push(() => undefined);
    await expect(
      provider(fx).handleCommand({ label: START_COMMAND_LABEL }, noToken()),
    ).rejects.toThrow('Canceled');
    expect(fx.agent.sessions.records.size).toBe(0);
  });

  it("shows the form again with the agent's objections", async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    f.agent.sessions.failures.set(
      'start',
      new InvalidParametersError('jupyter', [
        { param: 'nodes', message: 'Nodes: the lab allows 1.' },
      ]),
    );
    let secondForm: string[] = [];
    f.fake.quickPickScripts.push(
      pickExact('lab'),
      pickExact('JupyterLab'),
      pickLabel(START_LABEL),
      (items, options) => {
        secondForm = items.map((i) => `${i.label}: ${i.description ?? ''}`);
        expect(options?.title).toContain('JupyterLab on lab');
        return items.find((i) => i.label === 'Nodes');
      },
      pickLabel(START_LABEL),
    );
    f.fake.inputScripts.push(() => '1');
    const handled = provider(f).handleCommand({ label: START_COMMAND_LABEL }, noToken());
    await until(() => f.agent.sessions.records.size === 1);
    expect(secondForm.find((l) => l.startsWith('Nodes'))).toContain('Nodes: the lab allows 1.');
    const [record] = [...f.agent.sessions.records.values()];
    if (record === undefined) throw new Error('no session');
    f.agent.sessions.put(readyJupyter(record.id));
    expect((await handled).id).toBe(record.id);
  });

  it('starts a server profile with its values', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    await until(() => f.api.model.catalog.profiles.length > 0);
    f.fake.quickPickScripts.push(pickLabel(START_LABEL));
    const handled = provider(f).handleCommand(
      { label: 'Start "Lab 2-node JupyterLab"' },
      noToken(),
    );
    await until(() => f.agent.sessions.records.size === 1);
    const [record] = [...f.agent.sessions.records.values()];
    if (record === undefined) throw new Error('no session');
    expect(record).toMatchObject({ profile: 'lab2', params: { nodes: 2, hours: 2 } });
    f.agent.sessions.put(readyJupyter(record.id));
    expect((await handled).id).toBe(record.id);
  });

  it('connects to a job found on a cluster by adopting it', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    f.agent.sessions.discoverable = [
      fakeRecord('s0000000000e1', {
        cluster: 'lab',
        state: 'starting',
        discovered: true,
        title: 'JupyterLab found',
      }),
    ];
    f.fake.quickPickScripts.push(pickLabel(SEARCH_LABEL), pickLabel('JupyterLab found'));
    const handled = provider(f).handleCommand({ label: CONNECT_COMMAND_LABEL }, noToken());
    await until(() => f.agent.sessions.calls.includes('adopt s0000000000e1'));
    f.agent.sessions.put(readyJupyter('s0000000000e1'));
    expect((await handled).id).toBe('s0000000000e1');
  });
});
