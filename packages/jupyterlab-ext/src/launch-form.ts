/**
 * The launch form for one template on one cluster, built from the form schema the agent serves
 * (site choices, per-partition limits). Mistakes are shown beside their field and nothing is
 * sent; problems the agent still finds come back per field the same way.
 */
import { AgentApiError } from './agent-api.js';
import type { ParamValue, TemplateForm } from './agent-types.js';
import { button, h } from './dom.js';
import {
  formFields,
  initialValues,
  maximumFor,
  validate,
  type FormField,
} from './launch-form-model.js';

export interface LaunchFormOptions {
  readonly form: TemplateForm;
  readonly cluster: string;
  readonly values?: Readonly<Record<string, ParamValue>>;
  readonly submit: (params: Readonly<Record<string, ParamValue>>) => Promise<void>;
  readonly cancel: () => void;
  /**
   * For kernel templates: saves the values as a profile and kernelspec named `displayName`
   * (shown as an extra field and an "Install as kernel" button).
   */
  readonly installKernel?: (
    params: Readonly<Record<string, ParamValue>>,
    displayName: string,
  ) => Promise<void>;
}

export class LaunchForm {
  readonly node: HTMLFormElement;
  private readonly raw: Record<string, string>;
  private readonly errorNodes = new Map<string, HTMLElement>();
  private readonly inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  private readonly status: HTMLElement;
  private readonly fields: FormField[];

  constructor(private readonly options: LaunchFormOptions) {
    const { form, cluster } = options;
    this.fields = formFields(form);
    this.raw = initialValues(form, options.values);
    this.status = h('div', { class: 'hpcj-form-status', role: 'alert' });
    const submit = h(
      'button',
      { type: 'submit', class: 'jp-Button hpcj-button hpcj-primary' },
      'Launch',
    );
    const install = options.installKernel;
    const kernelName =
      install === undefined
        ? undefined
        : h('input', {
            id: `hpcj-field-${form.name}-kernel-name`,
            name: 'kernelDisplayName',
            class: 'hpcj-input',
            type: 'text',
            autocomplete: 'off',
            placeholder: `e.g. ${cluster} ${form.title}`,
          });
    const kernelError = h('div', {
      class: 'hpcj-field-error',
      id: `hpcj-field-${form.name}-kernel-name-error`,
      'aria-live': 'polite',
    });
    kernelName?.setAttribute('aria-describedby', kernelError.id);
    kernelName?.addEventListener('input', () => {
      kernelError.textContent = '';
      kernelName.removeAttribute('aria-invalid');
    });
    const installButton =
      install !== undefined &&
      kernelName !== undefined &&
      button(
        'Install as kernel',
        () => {
          void this.onInstall(install, kernelName, kernelError, installButton || undefined);
        },
        {
          'data-action': 'install-kernel',
          title: 'Save these values as a profile and a kernel for the Launcher and kernel picker',
        },
      );
    this.node = h(
      'form',
      { class: 'hpcj-form', 'data-template': form.name, novalidate: '' },
      h('div', { class: 'hpcj-form-title' }, `${form.title} on ${cluster}`),
      h('div', { class: 'hpcj-line hpcj-muted' }, form.description),
      ...this.fields.map((f) => this.fieldRow(f)),
      kernelName !== undefined &&
        h(
          'div',
          { class: 'hpcj-field', 'data-field': 'kernelDisplayName' },
          h(
            'label',
            {
              for: kernelName.id,
              title: 'What the Launcher and the kernel picker call it, for "Install as kernel"',
            },
            'Kernel name',
          ),
          kernelName,
          kernelError,
        ),
      this.status,
      h('div', { class: 'hpcj-actions' }, submit, installButton, button('Cancel', options.cancel)),
    );
    this.node.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.onSubmit(submit);
    });
    this.refreshLimits();
  }

  private fieldRow(field: FormField): HTMLElement {
    const { name, def } = field;
    const id = `hpcj-field-${this.options.form.name}-${name}`;
    let input: HTMLInputElement | HTMLSelectElement;
    const choices = def.type === 'boolean' ? ['true', 'false'] : def.enum?.map(String);
    if (choices !== undefined) {
      input = h('select', { id, name, class: 'hpcj-input' });
      if (!field.required || def.default === undefined)
        input.append(h('option', { value: '' }, ''));
      for (const c of choices) {
        const label = def.type === 'boolean' ? (c === 'true' ? 'yes' : 'no') : c;
        input.append(h('option', { value: c }, label));
      }
    } else {
      const numeric = def.type === 'integer' || def.type === 'number';
      input = h('input', {
        id,
        name,
        class: 'hpcj-input',
        type: 'text',
        autocomplete: 'off',
        ...(numeric ? { inputmode: def.type === 'integer' ? 'numeric' : 'decimal' } : {}),
      });
    }
    input.value = this.raw[name] ?? '';
    input.addEventListener('input', () => {
      this.raw[name] = input.value;
      this.clearError(name);
      if (name === this.options.form.partitionParam) this.refreshLimits();
    });
    input.addEventListener('change', () => {
      this.raw[name] = input.value;
      this.showErrors(validate(this.options.form, this.raw).errors, name);
    });
    this.inputs.set(name, input);
    const error = h('div', { class: 'hpcj-field-error', id: `${id}-error`, 'aria-live': 'polite' });
    input.setAttribute('aria-describedby', `${id}-error`);
    this.errorNodes.set(name, error);
    return h(
      'div',
      { class: 'hpcj-field', 'data-field': name },
      h('label', { for: id, title: def.description }, def.title),
      input,
      h('div', { class: 'hpcj-hint', 'data-hint': name }),
      error,
    );
  }

  /** Shows each numeric field's bound for the chosen partition as a hint. */
  private refreshLimits(): void {
    for (const { name, def } of this.fields) {
      if (def.type !== 'integer' && def.type !== 'number') continue;
      const max = maximumFor(this.options.form, name, this.raw);
      const hint = this.node.querySelector<HTMLElement>(`[data-hint="${name}"]`);
      if (hint === null) continue;
      hint.textContent = boundsText(def.minimum, max);
    }
  }

  private clearError(name: string): void {
    const node = this.errorNodes.get(name);
    if (node !== undefined) node.textContent = '';
    this.inputs.get(name)?.removeAttribute('aria-invalid');
  }

  /** Shows errors; with `only`, just that field's. Returns whether there were any. */
  private showErrors(errors: Readonly<Record<string, string>>, only?: string): boolean {
    for (const [name, node] of this.errorNodes) {
      if (only !== undefined && name !== only) continue;
      const message = errors[name];
      node.textContent = message ?? '';
      const input = this.inputs.get(name);
      if (message === undefined) input?.removeAttribute('aria-invalid');
      else input?.setAttribute('aria-invalid', 'true');
    }
    return Object.keys(errors).length > 0;
  }

  private async onInstall(
    install: NonNullable<LaunchFormOptions['installKernel']>,
    nameInput: HTMLInputElement,
    nameError: HTMLElement,
    trigger: HTMLButtonElement | undefined,
  ): Promise<void> {
    const { params, errors } = validate(this.options.form, this.raw);
    const displayName = nameInput.value.trim();
    this.status.textContent = '';
    const fieldErrors = this.showErrors(errors);
    nameError.textContent = displayName === '' ? 'Give the kernel a name.' : '';
    if (displayName === '') nameInput.setAttribute('aria-invalid', 'true');
    if (fieldErrors || displayName === '') {
      this.status.textContent = 'Fix the marked fields; nothing was installed.';
      return;
    }
    if (trigger !== undefined) trigger.disabled = true;
    this.status.textContent = 'Installing the kernel…';
    try {
      await install(params, displayName);
      this.status.textContent = `Installed "${displayName}": pick it in the Launcher or the kernel picker.`;
    } catch (err) {
      if (err instanceof AgentApiError && Object.keys(err.problems).length > 0) {
        this.showErrors(err.problems);
      }
      this.status.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      if (trigger !== undefined) trigger.disabled = false;
    }
  }

  private async onSubmit(submit: HTMLButtonElement): Promise<void> {
    const { params, errors } = validate(this.options.form, this.raw);
    this.status.textContent = '';
    if (this.showErrors(errors)) {
      this.status.textContent = 'Fix the marked fields; nothing was submitted.';
      return;
    }
    submit.disabled = true;
    this.status.textContent = 'Submitting…';
    try {
      await this.options.submit(params);
    } catch (err) {
      if (err instanceof AgentApiError && Object.keys(err.problems).length > 0) {
        this.showErrors(err.problems);
      }
      this.status.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      submit.disabled = false;
    }
  }
}

function boundsText(min: number | undefined, max: number | undefined): string {
  if (max === undefined) return min === undefined ? '' : `at least ${min}`;
  if (min !== undefined && max < min) return 'not available on this partition';
  return min === undefined ? `at most ${max}` : `${min} to ${max}`;
}
