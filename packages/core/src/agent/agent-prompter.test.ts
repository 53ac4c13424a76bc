import { afterEach, describe, expect, it } from 'vitest';
import { AgentError, ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import type { AgentEvent, PromptEvent } from '../sessions/types.js';
import { AgentPrompter } from './agent-prompter.js';
import type { AgentStreamEvent } from './api-types.js';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';

function nextPrompt(prompter: AgentPrompter): Promise<PromptEvent> {
  return new Promise((resolve) => {
    const off = prompter.onEvent((e) => {
      if (e.type === 'prompt') {
        off();
        resolve(e.prompt);
      }
    });
  });
}

describe('AgentPrompter', () => {
  it('turns a password question into a prompt event and resolves with the first answer', async () => {
    const prompter = new AgentPrompter({ clusterForHost: (h) => (h === 'login' ? 'hpc' : h) });
    const events: AgentEvent[] = [];
    prompter.onEvent((e) => events.push(e));
    const asked = nextPrompt(prompter);
    const answer = prompter.prompter.password({ host: 'login', user: 'ada' });
    const prompt = await asked;
    expect(prompt).toMatchObject({
      cluster: 'hpc',
      kind: 'password',
      message: "ada@login's password:",
    });
    expect(prompter.list()).toEqual([prompt]);
    prompter.answer(prompt.id, { answer: 'secret' });
    expect(() => {
      prompter.answer(prompt.id, { answer: 'late' });
    }).toThrow(ConflictError);
    expect(await answer).toBe('secret');
    expect(prompter.list()).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['prompt', 'prompt-answered']);
    // Nothing in the events carries the answer.
    expect(JSON.stringify(events)).not.toContain('secret');
    expect(() => {
      prompter.answer('pnope', { answer: 'x' });
    }).toThrow(NotFoundError);
  });

  it('checks the answer against the kind of question and keeps the prompt open on a bad one', async () => {
    const prompter = new AgentPrompter();
    const asked = nextPrompt(prompter);
    const trust = prompter.forCluster('hpc').unknownHostKey({
      host: 'login',
      port: 2222,
      keyType: 'ssh-ed25519',
      fingerprint: 'SHA256:abc',
    });
    const prompt = await asked;
    expect(prompt).toMatchObject({ cluster: 'hpc', kind: 'host-key', fingerprint: 'SHA256:abc' });
    expect(prompt.message).toContain("'[login]:2222'");
    expect(() => {
      prompter.answer(prompt.id, { answer: 'yes' });
    }).toThrow(InvalidInputError);
    expect(prompter.list()).toHaveLength(1);
    prompter.answer(prompt.id, { answer: true });
    expect(await trust).toBe(true);
  });

  it('asks keyboard-interactive questions together and takes a list of answers', async () => {
    const prompter = new AgentPrompter();
    const asked = nextPrompt(prompter);
    const answers = prompter.forCluster('hpc').keyboardInteractive({
      host: 'login',
      user: 'ada',
      name: '',
      instructions: 'Two factors',
      prompts: [
        { prompt: 'Password: ', echo: false },
        { prompt: 'Code: ', echo: true },
      ],
    });
    const prompt = await asked;
    expect(prompt.message).toBe('Two factors');
    expect(prompt.prompts).toHaveLength(2);
    expect(() => {
      prompter.answer(prompt.id, { answer: ['only one'] });
    }).toThrow(InvalidInputError);
    prompter.answer(prompt.id, { answer: ['pw', '123456'] });
    expect(await answers).toEqual(['pw', '123456']);
    // A round without questions needs nobody.
    expect(
      await prompter.prompter.keyboardInteractive({
        host: 'h',
        user: 'u',
        name: '',
        instructions: '',
        prompts: [],
      }),
    ).toEqual([]);
  });

  it('declines after the timeout, on abort, on decline and on close', async () => {
    const prompter = new AgentPrompter({ timeoutMs: 30 });
    const events: AgentEvent[] = [];
    prompter.onEvent((e) => events.push(e));
    expect(await prompter.prompter.passphrase({ host: 'h', keyFile: '~/.ssh/id' })).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['prompt', 'prompt-answered']);

    const slow = new AgentPrompter();
    const controller = new AbortController();
    const aborted = slow.prompter.password({ host: 'h', user: 'u' }, controller.signal);
    controller.abort();
    expect(await aborted).toBeUndefined();

    const asked = nextPrompt(slow);
    const declined = slow.prompter.unknownHostKey({
      host: 'h',
      port: 22,
      keyType: 'ssh-rsa',
      fingerprint: 'SHA256:x',
    });
    slow.answer((await asked).id, { decline: true });
    expect(await declined).toBe(false);

    const pending = slow.prompter.password({ host: 'h', user: 'u' });
    slow.close();
    expect(await pending).toBeUndefined();
    expect(await slow.prompter.password({ host: 'h', user: 'u' })).toBeUndefined();
  });
});

describe('prompts over the API', () => {
  let agent: TestAgent | undefined;
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
  });

  it('streams the prompt to every client; the first answer wins, the second gets 409', async () => {
    agent = await startTestAgent();
    const seen: AgentStreamEvent[][] = [[], []];
    const controller = new AbortController();
    const { client } = agent;
    const streams = seen.map((events) => client.events((e) => events.push(e), controller.signal));
    const answered = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (seen.every((events) => events.some((e) => e.type === 'prompt-answered'))) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    // Wait until both streams are attached, so both see the prompt.
    while (agent.server.events.clientCount < 2) await new Promise((r) => setTimeout(r, 5));
    const password = agent.prompter.forCluster('hpc').password({ host: 'login', user: 'ada' });
    const [prompt] = await waitFor(() => agent?.prompter.list() ?? []);
    if (prompt === undefined) throw new Error('no prompt');
    expect((await agent.client.prompts()).map((p) => p.id)).toEqual([prompt.id]);

    const results = await Promise.allSettled([
      agent.client.answerPrompt(prompt.id, { answer: 'first' }),
      agent.client.answerPrompt(prompt.id, { answer: 'second' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = results.find((r) => r.status === 'rejected');
    expect((loser?.reason as AgentError).status).toBe(409);
    expect(['first', 'second']).toContain(await password);
    await answered;
    for (const events of seen) {
      expect(events.map((e) => e.type)).toEqual(['snapshot', 'prompt', 'prompt-answered']);
    }
    controller.abort();
    await Promise.all(streams);
  });

  it('includes open prompts in the snapshot and rejects bad replies with 400', async () => {
    agent = await startTestAgent();
    void agent.prompter.forCluster('hpc').password({ host: 'login', user: 'ada' });
    const [prompt] = await waitFor(() => agent?.prompter.list() ?? []);
    if (prompt === undefined) throw new Error('no prompt');
    const controller = new AbortController();
    const first = await new Promise<AgentStreamEvent>((resolve) => {
      void agent?.client.events(resolve, controller.signal);
    });
    controller.abort();
    expect(first.type === 'snapshot' && first.prompts.map((p) => p.id)).toEqual([prompt.id]);
    const bad = await agent.client
      .answerPrompt(prompt.id, { answer: 42 } as never)
      .catch((e: unknown) => e as AgentError);
    expect(bad?.status).toBe(400);
    const wrongKind = await agent.client
      .answerPrompt(prompt.id, { answer: true })
      .catch((e: unknown) => e as AgentError);
    expect(wrongKind?.status).toBe(400);
    const unknown = await agent.client
      .answerPrompt('pdeadbeef', { answer: 'x' })
      .catch((e: unknown) => e as AgentError);
    expect(unknown?.status).toBe(404);
  });
});

async function waitFor<T>(get: () => readonly T[]): Promise<readonly T[]> {
  for (let i = 0; i < 200; i++) {
    const value = get();
    if (value.length > 0) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('timed out');
}
