/**
 * Profiles (a template plus a cluster plus parameter values, with a display name) for the tree,
 * the start flow and "Install profile as kernel". The agent's API does not serve profiles yet, so
 * they are read here from the same configuration files the agent reads, through the core's
 * loader; the environment passed in is the one the agent is started with.
 */
import { loadConfig, type Environment, type ParamValue } from '@hpc-jupyter/core';

export interface ProfileInfo {
  readonly name: string;
  readonly displayName: string;
  readonly cluster: string;
  readonly template: string;
  readonly params: Readonly<Record<string, ParamValue>>;
}

export async function loadProfiles(
  env: Environment,
  signal?: AbortSignal,
): Promise<readonly ProfileInfo[]> {
  const config = await loadConfig({ env, ...(signal === undefined ? {} : { signal }) });
  return [...config.profiles.values()].map((p) => ({
    name: p.name,
    displayName: p.displayName,
    cluster: p.cluster,
    template: p.template,
    params: p.params ?? {},
  }));
}
