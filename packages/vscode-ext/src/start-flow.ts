/**
 * "Start a Jupyter server job...": a multi-step quick pick (cluster, then a profile or a
 * template, then the parameters with the cluster's choices, defaults and limits) that ends in a
 * SessionSpec. Steps already decided by where it was started from (a cluster or profile in the
 * tree) are skipped.
 */
import type * as vscode from 'vscode';
import type { ParameterProblem, ParamValue, SessionSpec, TemplateSummary } from '@hpc-jupyter/core';
import type { AgentConnection } from './agent-connection';
import type { SessionsModel } from './sessions-model';
import type { ProfileInfo } from './profiles';
import { pickParameters } from './form-quick-pick';
import { initialValues } from './param-form';

export interface StartPreset {
  readonly cluster?: string;
  readonly template?: string;
  readonly profile?: ProfileInfo;
  /** Values to show instead of the defaults (a relaunch, or after the agent refused them). */
  readonly params?: Readonly<Record<string, ParamValue>>;
  readonly problems?: readonly ParameterProblem[];
}

export interface StartFlowDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
}

interface ClusterItem extends vscode.QuickPickItem {
  readonly cluster: string;
}

interface KindItem extends vscode.QuickPickItem {
  readonly template: string;
  readonly profile?: ProfileInfo;
}

const TITLE = 'Start a Jupyter server job';

/** Templates that give a Jupyter server. */
export function serverTemplates(templates: readonly TemplateSummary[]): TemplateSummary[] {
  return templates.filter((t) => t.kind === 'server');
}

export function isServerProfile(
  profile: ProfileInfo,
  templates: readonly TemplateSummary[],
): boolean {
  return templates.find((t) => t.name === profile.template)?.kind === 'server';
}

/** The spec to start, or undefined when the user backed out. */
export async function pickSessionSpec(
  vs: typeof vscode,
  deps: StartFlowDeps,
  preset: StartPreset,
  token?: vscode.CancellationToken,
): Promise<SessionSpec | undefined> {
  if (deps.model.catalog.clusters.length === 0) await deps.connection.refresh();
  const cluster = preset.profile?.cluster ?? preset.cluster ?? (await pickCluster(vs, deps, token));
  if (cluster === undefined) return undefined;

  let template = preset.profile?.template ?? preset.template;
  let profile = preset.profile;
  if (template === undefined) {
    const kind = await pickKind(vs, deps, cluster, token);
    if (kind === undefined) return undefined;
    template = kind.template;
    profile = kind.profile;
  }

  const client = await deps.connection.client();
  const form = await client.templateForm(template, cluster);
  const values = initialValues(form, preset.params ?? profile?.params ?? {});
  const params = await pickParameters(vs, {
    title: `${TITLE} (3/3): ${profile?.displayName ?? form.title} on ${cluster}`,
    form,
    values,
    ...(preset.problems === undefined ? {} : { problems: preset.problems }),
    ...(token === undefined ? {} : { token }),
  });
  if (params === undefined) return undefined;
  return { cluster, template, params, ...(profile === undefined ? {} : { profile: profile.name }) };
}

async function pickCluster(
  vs: typeof vscode,
  deps: StartFlowDeps,
  token?: vscode.CancellationToken,
): Promise<string | undefined> {
  const items: ClusterItem[] = deps.model.catalog.clusters.map((c) => {
    const state = deps.model.clusterState(c.name);
    const where = c.host === undefined ? 'this computer' : c.host;
    return {
      label: c.name,
      description: c.title ?? '',
      detail: `${c.scheduler} on ${where}${state?.reachable === false ? ` $(warning) ${state.error ?? 'not reachable'}` : ''}`,
      cluster: c.name,
    };
  });
  const picked = await vs.window.showQuickPick(
    items,
    {
      title: `${TITLE} (1/3): cluster`,
      placeHolder: 'Where should the job run?',
      ignoreFocusOut: true,
    },
    token,
  );
  return picked?.cluster;
}

async function pickKind(
  vs: typeof vscode,
  deps: StartFlowDeps,
  cluster: string,
  token?: vscode.CancellationToken,
): Promise<KindItem | undefined> {
  const { templates, profiles } = deps.model.catalog;
  const profileItems: KindItem[] = profiles
    .filter((p) => p.cluster === cluster && isServerProfile(p, templates))
    .map((p) => ({
      label: `$(star-full) ${p.displayName}`,
      description: `profile ${p.name}`,
      template: p.template,
      profile: p,
    }));
  const templateItems: KindItem[] = serverTemplates(templates).map((t) => ({
    label: t.title,
    description: t.name,
    detail: t.description,
    template: t.name,
  }));
  const items: (KindItem | vscode.QuickPickItem)[] = [
    ...(profileItems.length === 0
      ? []
      : [{ label: 'Profiles', kind: vs.QuickPickItemKind.Separator }, ...profileItems]),
    { label: 'Templates', kind: vs.QuickPickItemKind.Separator },
    ...templateItems,
  ];
  const picked = await vs.window.showQuickPick(
    items,
    { title: `${TITLE} (2/3): what to start on ${cluster}`, ignoreFocusOut: true },
    token,
  );
  return picked !== undefined && 'template' in picked ? picked : undefined;
}
