/**
 * The parts of a session card that must outlive a redraw: the Copy button with its "Copied",
 * the Scale control (what was typed, its focus) and the card's last message. The sidebar redraws
 * every card on each event and every 15 s, so it keeps one CardInline per session and each new
 * card moves these same nodes in.
 */
import { button, h } from './dom.js';
import { parseNodeCount, type Scaling } from './session-format.js';
import type { SessionActions } from './session-card.js';

/** How long Copy says "Copied", and a message that is not an error stays. */
const COPIED_MS = 2000;
const MESSAGE_MS = 10_000;

export class CardInline {
  /** Below the card's actions: the open scale control, then the last message. */
  readonly node = h('div', { class: 'hpcj-inline' });
  private readonly message = h('div', { class: 'hpcj-line hpcj-inline-message', role: 'status' });
  private copy: HTMLButtonElement | undefined;
  private scaleForm: HTMLFormElement | undefined;
  private copiedTimer: ReturnType<typeof setTimeout> | undefined;
  private messageTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly id: string,
    private readonly actions: SessionActions,
  ) {
    this.node.append(this.message);
  }

  get scaleOpen(): boolean {
    return this.scaleForm !== undefined;
  }

  /** The Copy button, the same element on every redraw. */
  copyButton(title: string): HTMLButtonElement {
    this.copy ??= button(
      'Copy',
      () => {
        void this.onCopy();
      },
      { 'data-action': 'copy-connection' },
    );
    this.copy.title = title;
    return this.copy;
  }

  /** Opens the scale control on the cluster's current node count, or closes it again. */
  toggleScale(scaling: Scaling): void {
    if (this.scaleForm !== undefined) {
      this.closeScale();
      return;
    }
    const form = this.scaleControl(this.actions.workerNodes(this.id), scaling);
    this.scaleForm = form;
    this.node.prepend(form);
    this.scaleButton()?.setAttribute('aria-expanded', 'true');
    const input = form.querySelector('input');
    input?.focus();
    input?.select();
  }

  /** Closes the scale control; `refocus` returns the keyboard to the card's Scale button. */
  closeScale(refocus = false): void {
    const form = this.scaleForm;
    if (form === undefined) return;
    this.scaleForm = undefined;
    form.remove();
    const scale = this.scaleButton();
    scale?.setAttribute('aria-expanded', 'false');
    if (refocus) scale?.focus();
  }

  dispose(): void {
    clearTimeout(this.copiedTimer);
    clearTimeout(this.messageTimer);
  }

  /** The Scale button of the card these nodes are in now (cards are redrawn, these are not). */
  private scaleButton(): HTMLElement | null | undefined {
    return this.node.parentElement?.querySelector<HTMLElement>('[data-action="scale"]');
  }

  private scaleControl(current: number, scaling: Scaling): HTMLFormElement {
    const inputId = `hpcj-scale-${this.id}`;
    const input = h('input', {
      id: inputId,
      name: 'scale-nodes',
      class: 'hpcj-input',
      type: 'number',
      min: '1',
      step: '1',
      value: String(current),
      'aria-describedby': `${inputId}-error`,
    });
    const error = h('div', { class: 'hpcj-field-error', id: `${inputId}-error`, role: 'alert' });
    const apply = h(
      'button',
      { type: 'submit', class: 'jp-Button hpcj-button hpcj-primary', 'data-action': 'scale-apply' },
      'Apply',
    );
    input.addEventListener('input', () => {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
    });
    // Novalidate: the browser's own bubbles would say less than the line below the field.
    const form = h(
      'form',
      { class: 'hpcj-scale', novalidate: '', 'aria-label': `Scale the ${scaling.engine} cluster` },
      h('label', { for: inputId }, `Nodes of ${scaling.noun}`),
      h(
        'div',
        { class: 'hpcj-scale-row' },
        input,
        apply,
        button(
          'Cancel',
          () => {
            this.closeScale(true);
          },
          { 'data-action': 'scale-cancel' },
        ),
      ),
      error,
    );
    // Enter in the field submits the form; Escape cancels and stops there.
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.onApply(input, error, apply);
    });
    form.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      ev.preventDefault();
      ev.stopPropagation();
      this.closeScale(true);
    });
    return form;
  }

  private async onApply(
    input: HTMLInputElement,
    error: HTMLElement,
    apply: HTMLButtonElement,
  ): Promise<void> {
    const parsed = parseNodeCount(input.value);
    if ('error' in parsed) {
      error.textContent = parsed.error;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.textContent = '';
    apply.disabled = true;
    try {
      const said = await this.actions.scale(this.id, parsed.nodes);
      this.closeScale(true);
      this.say(said);
    } catch (err) {
      error.textContent = errorText(err);
      input.focus();
    } finally {
      apply.disabled = false;
    }
  }

  private async onCopy(): Promise<void> {
    const copy = this.copy;
    if (copy === undefined) return;
    // A "Copied" from before must not stand beside this attempt's error.
    clearTimeout(this.copiedTimer);
    copy.textContent = 'Copy';
    this.say('');
    try {
      await this.actions.copyConnection(this.id);
      copy.textContent = 'Copied';
      this.copiedTimer = setTimeout(() => {
        copy.textContent = 'Copy';
      }, COPIED_MS);
    } catch (err) {
      this.say(errorText(err), true);
    }
  }

  /** Shows a message below the actions; one that is not an error goes away by itself. */
  private say(text: string, error = false): void {
    clearTimeout(this.messageTimer);
    this.message.textContent = text;
    this.message.classList.toggle('hpcj-error', error);
    if (!error && text !== '') {
      this.messageTimer = setTimeout(() => {
        this.message.textContent = '';
      }, MESSAGE_MS);
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
