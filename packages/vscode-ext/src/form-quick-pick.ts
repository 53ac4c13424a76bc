/**
 * The launch form as a quick pick: the first item starts the job, the others are the parameters
 * with their current values (and what is wrong with them); picking one edits it in an input box
 * with validation, or in a second quick pick for choices (partitions, accounts, yes/no).
 */
import type * as vscode from 'vscode';
import type {
  ParameterDefinition,
  ParameterProblem,
  ParamValue,
  TemplateForm,
} from '@hpc-jupyter/core';
import {
  effectiveSchema,
  formatValue,
  isRequired,
  parseInput,
  summarizeValues,
  validateValues,
} from './param-form';

export interface ParameterPickOptions {
  readonly title: string;
  readonly form: TemplateForm;
  readonly values: Readonly<Record<string, ParamValue>>;
  /** Problems the agent found with these values last time, by parameter. */
  readonly problems?: readonly ParameterProblem[];
  readonly token?: vscode.CancellationToken;
}

interface FormItem extends vscode.QuickPickItem {
  readonly action?: 'start';
  readonly param?: string;
}

interface ChoiceItem extends vscode.QuickPickItem {
  readonly value: ParamValue | undefined;
}

export const START_LABEL = '$(play) Start';

/** The values to start with, or undefined when the user backed out. */
export async function pickParameters(
  vs: typeof vscode,
  options: ParameterPickOptions,
): Promise<Record<string, ParamValue> | undefined> {
  // A map: parameters are set and unset by name as the user edits them.
  const edits = new Map(Object.entries(options.values));
  const current = (): Record<string, ParamValue> => Object.fromEntries(edits);
  const agentProblems = new Map((options.problems ?? []).map((p) => [p.param, p.message]));
  for (;;) {
    const values = current();
    const schema = effectiveSchema(options.form, values);
    const problems = new Map(validateValues(schema, values).map((p) => [p.param, p.message]));
    for (const [param, message] of agentProblems)
      if (!problems.has(param)) problems.set(param, message);
    const items: FormItem[] = [
      {
        label: START_LABEL,
        description: summarizeValues(schema, values),
        ...(problems.size === 0
          ? {}
          : { detail: `$(warning) Fix first: ${[...problems.values()].join(' ')}` }),
        action: 'start',
      },
      { label: 'Parameters', kind: vs.QuickPickItemKind.Separator },
      ...Object.entries(schema.properties).map(([name, def]) => {
        const problem = problems.get(name);
        return {
          label: def.title,
          description: `${formatValue(def, values[name])}${problem === undefined ? '' : `  $(warning) ${problem}`}`,
          detail: def.description,
          param: name,
        };
      }),
    ];
    const picked = await vs.window.showQuickPick(
      items,
      {
        title: options.title,
        placeHolder: 'Start, or pick a parameter to change it',
        ignoreFocusOut: true,
        matchOnDescription: true,
      },
      options.token,
    );
    if (picked === undefined) return undefined;
    if (picked.action === 'start') {
      if (problems.size === 0) return values;
      void vs.window.showWarningMessage([...problems.values()].join(' '));
      continue;
    }
    const name = picked.param;
    const def = name === undefined ? undefined : schema.properties[name];
    if (name === undefined || def === undefined) continue;
    const edited = await editParameter(vs, options, def, values[name], isRequired(schema, name));
    if (edited === 'back') continue;
    agentProblems.delete(name);
    if (edited.value === undefined) edits.delete(name);
    else edits.set(name, edited.value);
  }
}

async function editParameter(
  vs: typeof vscode,
  options: ParameterPickOptions,
  def: ParameterDefinition,
  current: ParamValue | undefined,
  required: boolean,
): Promise<{ readonly value: ParamValue | undefined } | 'back'> {
  const title = `${options.title}: ${def.title}`;
  const choices: readonly ParamValue[] | undefined =
    def.enum ?? (def.type === 'boolean' ? [true, false] : undefined);
  if (choices !== undefined) {
    const items: ChoiceItem[] = choices.map((value) => ({
      label: formatValue(def, value),
      value,
      picked: value === current,
      ...(value === current ? { description: 'current' } : {}),
    }));
    if (!required)
      items.push({ label: 'Not set', description: 'use the default', value: undefined });
    const picked = await vs.window.showQuickPick(
      items,
      { title, placeHolder: def.description, ignoreFocusOut: true },
      options.token,
    );
    return picked === undefined ? 'back' : { value: picked.value };
  }
  const text = await vs.window.showInputBox(
    {
      title,
      prompt: `${def.description}${bounds(def)}`,
      value: current === undefined ? '' : String(current),
      ignoreFocusOut: true,
      validateInput: (input) => {
        const parsed = parseInput(def, input, required);
        return parsed.ok ? undefined : parsed.message;
      },
    },
    options.token,
  );
  if (text === undefined) return 'back';
  const parsed = parseInput(def, text, required);
  return parsed.ok ? { value: parsed.value } : 'back';
}

function bounds(def: ParameterDefinition): string {
  if (def.minimum !== undefined && def.maximum !== undefined)
    return ` (${def.minimum} to ${def.maximum})`;
  if (def.maximum !== undefined) return ` (at most ${def.maximum})`;
  if (def.minimum !== undefined) return ` (at least ${def.minimum})`;
  return '';
}
