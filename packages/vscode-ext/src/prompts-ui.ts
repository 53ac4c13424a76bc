/**
 * Answers the agent's interactive questions (SSH password, MFA codes, key passphrase, unknown
 * host key) with input boxes and quick picks, secrets masked. One question at a time, in order;
 * a question answered elsewhere first (the CLI, JupyterLab) closes its box here. Declining (Escape)
 * is an answer too, so the agent never waits for a question nobody sees.
 */
import type * as vscode from 'vscode';
import type { PromptEvent, PromptReply } from '@hpc-jupyter/core';
import { describe, type AgentConnection } from './agent-connection';
import type { SessionsModel } from './sessions-model';

export interface PromptsUiDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly log: (message: string) => void;
}

export class PromptsUi implements vscode.Disposable {
  private readonly open = new Map<string, vscode.CancellationTokenSource>();
  private readonly seen = new Set<string>();
  private readonly subscriptions: { dispose(): void }[];
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly vs: typeof vscode,
    private readonly deps: PromptsUiDeps,
  ) {
    this.subscriptions = [
      deps.model.onPrompt((prompt) => {
        this.enqueue(prompt);
      }),
      deps.model.onPromptAnswered((id) => {
        this.seen.add(id);
        this.open.get(id)?.cancel();
      }),
    ];
    for (const prompt of deps.model.prompts) this.enqueue(prompt);
  }

  /** Resolves once every question asked so far has been dealt with (tests). */
  idle(): Promise<void> {
    return this.queue;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    for (const cts of this.open.values()) cts.cancel();
  }

  private enqueue(prompt: PromptEvent): void {
    if (this.seen.has(prompt.id)) return;
    this.seen.add(prompt.id);
    this.queue = this.queue.then(() => this.ask(prompt));
  }

  private async ask(prompt: PromptEvent): Promise<void> {
    // Answered elsewhere while waiting its turn.
    if (!this.deps.model.prompts.some((p) => p.id === prompt.id)) return;
    const cts = new this.vs.CancellationTokenSource();
    this.open.set(prompt.id, cts);
    try {
      const reply = await askUser(this.vs, prompt, cts.token);
      if (cts.token.isCancellationRequested) return;
      const client = await this.deps.connection.client();
      await client.answerPrompt(prompt.id, reply);
    } catch (err) {
      // 409: another client answered first, which is fine.
      if ((err as { status?: unknown }).status !== 409) {
        this.deps.log(`Answering "${prompt.message}" failed: ${describe(err)}`);
      }
    } finally {
      this.open.delete(prompt.id);
      cts.dispose();
    }
  }
}

interface TrustItem extends vscode.QuickPickItem {
  readonly trust: boolean;
}

export async function askUser(
  vs: typeof vscode,
  prompt: PromptEvent,
  token: vscode.CancellationToken,
): Promise<PromptReply> {
  const title = `HPC: ${prompt.cluster}`;
  switch (prompt.kind) {
    case 'password':
    case 'passphrase': {
      const answer = await vs.window.showInputBox(
        { title, prompt: prompt.message, password: true, ignoreFocusOut: true },
        token,
      );
      return answer === undefined ? { decline: true } : { answer };
    }
    case 'keyboard-interactive': {
      const answers: string[] = [];
      const questions = prompt.prompts ?? [];
      for (const [i, q] of questions.entries()) {
        const answer = await vs.window.showInputBox(
          {
            title: questions.length > 1 ? `${title} (${i + 1}/${questions.length})` : title,
            prompt: q.prompt,
            ...(prompt.message === '' ? {} : { placeHolder: prompt.message }),
            password: !q.echo,
            ignoreFocusOut: true,
          },
          token,
        );
        if (answer === undefined) return { decline: true };
        answers.push(answer);
      }
      return { answer: answers };
    }
    case 'host-key': {
      const items: TrustItem[] = [
        {
          label: 'Trust this host key and connect',
          detail: prompt.fingerprint ?? prompt.message,
          trust: true,
        },
        { label: 'Do not connect', trust: false },
      ];
      const picked = await vs.window.showQuickPick(
        items,
        { title, placeHolder: firstLine(prompt.message), ignoreFocusOut: true },
        token,
      );
      return picked === undefined ? { decline: true } : { answer: picked.trust };
    }
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
