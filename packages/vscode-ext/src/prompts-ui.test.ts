import { afterEach, describe, expect, it } from 'vitest';
import { pickLabel } from './fake-vscode.testutil';
import { activateWithTestAgent, until, type Fixture } from './test-agent.testutil';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe('prompts from the agent', () => {
  it('asks for a password in a masked input box and answers the agent', async () => {
    fx = await activateWithTestAgent();
    fx.fake.inputScripts.push(() => 'hunter2');
    const answer = fx.agent.prompter.forCluster('lab').password({ host: 'login', user: 'ada' });
    expect(await answer).toBe('hunter2');
    expect(fx.fake.inputCalls[0]).toMatchObject({ password: true, title: 'HPC: lab' });
  });

  it('asks each MFA question, masking those that do not echo', async () => {
    fx = await activateWithTestAgent();
    fx.fake.inputScripts.push(
      () => 'ada',
      () => '123456',
    );
    const answer = fx.agent.prompter.forCluster('lab').keyboardInteractive({
      host: 'login',
      user: 'ada',
      name: 'Duo',
      instructions: 'Two factors',
      prompts: [
        { prompt: 'Username: ', echo: true },
        { prompt: 'Passcode: ', echo: false },
      ],
    });
    expect(await answer).toEqual(['ada', '123456']);
    expect(fx.fake.inputCalls.map((c) => c?.password)).toEqual([false, true]);
    expect(fx.fake.inputCalls[1]?.title).toBe('HPC: lab (2/2)');
  });

  it('asks about an unknown host key with a quick pick; Escape declines', async () => {
    fx = await activateWithTestAgent();
    const prompter = fx.agent.prompter.forCluster('lab');
    const request = {
      host: 'login',
      port: 22,
      keyType: 'ssh-ed25519',
      fingerprint: 'SHA256:abc',
    };
    fx.fake.quickPickScripts.push(pickLabel('Trust'));
    expect(await prompter.unknownHostKey(request)).toBe(true);
    expect(fx.fake.quickPickCalls[0]?.items[0]?.detail).toContain('SHA256:abc');
    fx.fake.quickPickScripts.push(() => undefined);
    expect(await prompter.unknownHostKey(request)).toBe(false);
  });

  it('closes its input box when another client answers first', async () => {
    fx = await activateWithTestAgent();
    const f = fx;
    let closed = false;
    f.fake.inputScripts.push(
      (_options, token) =>
        new Promise((resolve) => {
          token?.onCancellationRequested(() => {
            closed = true;
            resolve(undefined);
          });
        }),
    );
    const answer = f.agent.prompter.forCluster('lab').passphrase({ host: 'login', keyFile: 'id' });
    await until(() => f.fake.inputCalls.length === 1);
    const [prompt] = await f.agent.client.prompts();
    if (prompt === undefined) throw new Error('no prompt');
    await f.agent.client.answerPrompt(prompt.id, { answer: 'from the CLI' });
    expect(await answer).toBe('from the CLI');
    await until(() => closed);
    await f.api.prompts.idle();
  });
});
