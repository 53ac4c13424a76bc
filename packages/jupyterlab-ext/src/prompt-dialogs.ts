/**
 * SSH prompts from the agent (password, MFA codes, key passphrase, unknown host key) as
 * JupyterLab dialogs. The first client to answer wins: a dialog whose prompt another front end
 * answered meanwhile is closed, and a late answer's 409 is ignored.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import type { AgentApi } from './agent-api.js';
import type { PromptAnswer, PromptEvent } from '@hpc-jupyter/core';
import { h } from './dom.js';
import type { HpcModel } from './hpc-model.js';

class PromptBody extends Widget implements Dialog.IBodyWidget<readonly string[]> {
  private readonly inputs: HTMLInputElement[] = [];

  constructor(prompt: PromptEvent) {
    super();
    this.addClass('hpcj-prompt');
    this.node.append(h('p', {}, prompt.message));
    const questions =
      prompt.kind === 'keyboard-interactive'
        ? (prompt.prompts ?? [])
        : [{ prompt: prompt.kind === 'passphrase' ? 'Passphrase' : 'Password', echo: false }];
    for (const q of questions) {
      const input = h('input', {
        class: 'jp-mod-styled hpcj-input',
        type: q.echo ? 'text' : 'password',
        autocomplete: 'off',
        'aria-label': q.prompt,
      });
      this.inputs.push(input);
      this.node.append(h('label', { class: 'hpcj-field' }, q.prompt, input));
    }
  }

  getValue(): readonly string[] {
    return this.inputs.map((i) => i.value);
  }

  protected override onAfterAttach(): void {
    this.inputs[0]?.focus();
  }
}

export function watchPrompts(model: HpcModel, api: AgentApi): () => void {
  return model.onPrompt((prompt) => {
    void ask(model, api, prompt);
  });
}

async function ask(model: HpcModel, api: AgentApi, prompt: PromptEvent): Promise<void> {
  const title = `${prompt.cluster}: ${TITLES[prompt.kind]}`;
  let dialog: Dialog<readonly string[]>;
  if (prompt.kind === 'host-key') {
    dialog = new Dialog({
      title,
      body: `${prompt.message}${prompt.fingerprint === undefined ? '' : `\n${prompt.fingerprint}`}`,
      buttons: [Dialog.cancelButton({ label: 'Reject' }), Dialog.warnButton({ label: 'Trust' })],
    });
  } else {
    dialog = new Dialog({
      title,
      body: new PromptBody(prompt),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Send' })],
    });
  }
  // Another front end may answer first: then this dialog has nothing left to ask.
  const stop = model.onChange(() => {
    if (!model.promptOpen(prompt.id)) dialog.resolve(0);
  });
  try {
    const result = await dialog.launch();
    if (!model.promptOpen(prompt.id)) return;
    let answer: PromptAnswer | undefined;
    if (result.button.accept) {
      if (prompt.kind === 'host-key') answer = true;
      else {
        const values = result.value ?? [];
        answer = prompt.kind === 'keyboard-interactive' ? values : (values[0] ?? '');
      }
    }
    await api.answerPrompt(prompt.id, answer === undefined ? { decline: true } : { answer });
  } catch (err) {
    await showDialog({
      title: 'hpc-jupyter',
      body: err instanceof Error ? err.message : String(err),
      buttons: [Dialog.okButton()],
    }).catch(() => undefined);
  } finally {
    stop();
    dialog.dispose();
  }
}

const TITLES: Record<PromptEvent['kind'], string> = {
  password: 'SSH password',
  'keyboard-interactive': 'SSH verification',
  passphrase: 'SSH key passphrase',
  'host-key': 'Unknown host key',
};
