/**
 * `POST /v1/kernelspecs`: saves a template + cluster + parameters as a profile in the user's
 * config file and installs it as a Jupyter kernelspec in the user's Jupyter data directory, as
 * `hpc-jupyter kernelspec install --cluster ... --name ...` does, for front ends that cannot run
 * the command (the JupyterLab sidebar, in a browser). The profile and the kernelspec go where the
 * agent's environment says (HPC_JUPYTER_CONFIG, JUPYTER_DATA_DIR, XDG_*), which is the user's.
 */
import os from 'node:os';
import type { Environment } from '../config/paths.js';
import { NAME_PATTERN, type ProfileConfig } from '../config/types.js';
import { InvalidInputError, NotFoundError } from '../errors.js';
import {
  buildKernelSpec,
  dataDirFor,
  installKernelSpec,
  kernelSpecName,
} from '../kernel/kernelspec.js';
import { profileFileFor, profileNameFrom, writeProfile } from '../kernel/profile-writer.js';
import { BUILTIN_TEMPLATES_DIR } from '../templates/index.js';
import { kernelTemplateFor, kernelTemplateNames } from '../templates/kernel-template.js';
import { loadTemplates } from '../templates/template-loader.js';
import type { ParamValue, Template } from '../templates/types.js';
import { validateParams } from '../templates/validate-params.js';
import type { KernelspecInstallResponse } from './api-types.js';
import { isRecord } from './http-json.js';
import type { Route } from './router.js';
import { checkParams } from './routes-sessions.js';
import { requireCluster, type RouteDeps } from './routes.js';

export interface KernelspecRouteOptions {
  /** Where profiles and kernelspecs go; the agent's own environment by default. */
  readonly env?: Environment;
  readonly home?: string;
  /** The templates profiles may name; the built-in ones (as the kernel launcher) by default. */
  readonly templates?: () => Promise<ReadonlyMap<string, Template>>;
}

/** What the request says, checked for shape; values are checked against the template. */
export interface KernelspecRequest {
  readonly displayName: string;
  readonly cluster: string;
  readonly template: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly name?: string;
}

export function kernelspecRoutes(deps: RouteDeps, options: KernelspecRouteOptions = {}): Route[] {
  const env = options.env ?? process.env;
  const templates = options.templates ?? (() => loadTemplates(BUILTIN_TEMPLATES_DIR));
  return [
    {
      method: 'POST',
      path: '/v1/kernelspecs',
      handle: async ({ body }) => {
        const request = parseKernelspecRequest(await body());
        requireCluster(deps.config, request.cluster);
        const all = await templates();
        const named = all.get(request.template);
        if (named === undefined) {
          throw new NotFoundError(`No template named "${request.template}".`, {
            hint: 'List the templates with GET /v1/templates.',
          });
        }
        // An engine (spark) means the kernel whose job also runs it (spark-kernel).
        const template = kernelTemplateFor(all, named.name);
        if (template === undefined) {
          throw new InvalidInputError(
            `The template "${named.name}" starts ${named.kind === 'engine' ? 'an' : 'a'} ${named.kind}, not a kernel.`,
            { hint: `Kernel templates: ${kernelTemplateNames(all).join(', ')}.` },
          );
        }
        // Checked and typed by the template; only what was given goes into the profile.
        const typed = validateParams(template, request.params);
        const params: Record<string, ParamValue> = {};
        for (const key of Object.keys(request.params)) {
          const v = typed[key];
          if (v !== undefined) params[key] = v;
        }
        const profile: ProfileConfig = {
          name: request.name ?? profileNameFrom(request.displayName),
          displayName: request.displayName,
          cluster: request.cluster,
          template: template.name,
          ...(Object.keys(params).length === 0 ? {} : { params }),
        };
        const configFile = await profileFileFor(env, options.home ?? os.homedir());
        const replaced = deps.config.profiles.has(profile.name);
        await writeProfile(configFile, profile);
        const kernelspec = kernelSpecName(profile.name);
        const dataDir = await dataDirFor({ kind: 'user' }, env);
        const spec = buildKernelSpec(profile, { version: deps.version, env });
        const dir = await installKernelSpec(dataDir, kernelspec, spec);
        const answer: KernelspecInstallResponse = {
          profile: profile.name,
          displayName: profile.displayName,
          kernelspec,
          dir,
          configFile,
          ...(replaced ? { replaced } : {}),
        };
        return { status: 201, body: answer };
      },
    },
  ];
}

/** Checks the shape of a kernelspec request. */
export function parseKernelspecRequest(value: unknown): KernelspecRequest {
  if (!isRecord(value)) {
    throw new InvalidInputError(
      'Send a JSON object: { "displayName", "cluster", "template", "params" }.',
    );
  }
  const { displayName, cluster, template, params, name } = value;
  if (typeof displayName !== 'string' || displayName.trim() === '' || displayName.length > 200) {
    throw new InvalidInputError('"displayName" must be a name of 1 to 200 characters.', {
      hint: 'It is what the Launcher and the kernel picker show, e.g. "Slurm 4-node Python".',
    });
  }
  if (typeof cluster !== 'string' || cluster === '') {
    throw new InvalidInputError('"cluster" must be the name of a configured cluster.');
  }
  if (typeof template !== 'string' || template === '') {
    throw new InvalidInputError('"template" must be the name of a kernel template.');
  }
  if (name !== undefined && (typeof name !== 'string' || !NAME_PATTERN.test(name))) {
    throw new InvalidInputError(
      '"name" must be lower-case letters, digits, "_" and "-", starting with a letter or digit.',
    );
  }
  const checked = checkParams(params);
  return {
    displayName: displayName.trim(),
    cluster,
    template,
    params: checked,
    ...(name === undefined ? {} : { name }),
  };
}
