/**
 * A CLI command's connection to the agent: starts the agent when it is not running, follows its
 * event stream, and answers SSH prompts (passwords, MFA codes, passphrases, host keys) on this
 * terminal while the command runs, so a queued job never waits for a question nobody sees.
 */
import { connectAgent } from '../agent/connect-agent.js';
import type { AgentClient } from '../agent/agent-client.js';
import type { AgentStreamEvent, PromptReply } from '../agent/api-types.js';
import type { PromptEvent, SessionRecord } from '../sessions/types.js';
import { TerminalPrompter } from './terminal-prompter.js';

export interface AgentSession {
  readonly client: AgentClient;
  /** Calls `listener` with every session record the agent announces, until `close()`. */
  onSession(listener: (session: SessionRecord) => void): void;
  close(): void;
}

export async function openAgentSession(signal: AbortSignal): Promise<AgentSession> {
  const client = await connectAgent({ start: true, signal });
  const stream = new AbortController();
  const stop = (): void => {
    stream.abort();
  };
  signal.addEventListener('abort', stop, { once: true });
  const listeners = new Set<(session: SessionRecord) => void>();
  const prompter = new TerminalPrompter();
  const asked = new Set<string>();

  const answer = async (prompt: PromptEvent): Promise<void> => {
    if (asked.has(prompt.id)) return;
    asked.add(prompt.id);
    const reply = await ask(prompter, prompt, stream.signal);
    await client.answerPrompt(prompt.id, reply).catch(() => undefined); // another client was first
  };
  const onEvent = (event: AgentStreamEvent): void => {
    if (event.type === 'snapshot') {
      for (const p of event.prompts) void answer(p);
      for (const s of event.sessions) for (const l of listeners) l(s);
    } else if (event.type === 'prompt') {
      void answer(event.prompt);
    } else if (event.type === 'session') {
      for (const l of listeners) l(event.session);
    }
  };
  void (async () => {
    // The agent may close a stream (restart); follow it again until this command is done.
    const done = (): boolean => stream.signal.aborted;
    while (!done()) {
      await client.events(onEvent, stream.signal).catch(() => undefined);
      if (!done()) await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    client,
    onSession: (listener) => {
      listeners.add(listener);
    },
    close: () => {
      signal.removeEventListener('abort', stop);
      stop();
    },
  };
}

async function ask(
  prompter: TerminalPrompter,
  prompt: PromptEvent,
  signal: AbortSignal,
): Promise<PromptReply> {
  const host = prompt.cluster;
  switch (prompt.kind) {
    case 'password': {
      const answer = await prompter.askSecret(`${prompt.message} `, signal);
      return answer === undefined ? { decline: true } : { answer };
    }
    case 'passphrase': {
      const answer = await prompter.askSecret(`${prompt.message} `, signal);
      return answer === undefined ? { decline: true } : { answer };
    }
    case 'keyboard-interactive': {
      const answers = await prompter.keyboardInteractive(
        { host, user: '', name: '', instructions: prompt.message, prompts: prompt.prompts ?? [] },
        signal,
      );
      return answers === undefined ? { decline: true } : { answer: answers };
    }
    case 'host-key': {
      const yes = await prompter.confirm(`${prompt.message}\nTrust this host (yes/no)? `, signal);
      return { answer: yes };
    }
  }
}
