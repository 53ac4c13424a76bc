/**
 * `hpc-jupyter kernelspec install|list|remove`: profiles as Jupyter kernels. `install` can also
 * create the profile from flags (`--cluster testlab --template spark --nodes 4 --name "Slurm
 * 4-node Spark"`), written into the user's config file with its comments kept; an engine
 * template there means the kernel template composed with it (spark -> spark-kernel).
 */
import { parseArgs } from 'node:util';
import { agentVersion } from '../agent/agent-main.js';
import { loadConfig } from '../config/load.js';
import type { Environment } from '../config/paths.js';
import type { LoadedConfig, ProfileConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import {
  buildKernelSpec,
  dataDirFor,
  installKernelSpec,
  jupyterDataDirs,
  kernelSpecName,
  listKernelSpecs,
  removeKernelSpec,
  type SpecLocation,
} from '../kernel/kernelspec.js';
import { profileFileFor, profileNameFrom, writeProfile } from '../kernel/profile-writer.js';
import { kernelTemplateFor, kernelTemplateNames } from '../templates/kernel-template.js';
import { loadTemplates } from '../templates/template-loader.js';
import type { ParamValue } from '../templates/types.js';
import { validateParams } from '../templates/validate-params.js';
import { formatTable } from './context.js';
import { templatesDir } from './templates-dir.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export const KERNELSPEC_HELP = `  hpc-jupyter kernelspec install PROFILE [--user | --sys-prefix | --prefix DIR] [--json]
      Install the profile as a Jupyter kernel ("hpcj-PROFILE"): pick it in JupyterLab or VS
      Code and the notebook's code runs in a batch job. Default --user.
  hpc-jupyter kernelspec install [PROFILE] --cluster CLUSTER [--template kernel|spark] [--nodes N]
                    [--hours H] [--partition P] [--account A] [--qos Q] [--param NAME=VALUE]...
                    --name "DISPLAY NAME" [--user | --sys-prefix | --prefix DIR]
      Create (or replace) the profile in your config file first, then install it. An engine
      template (spark) means the kernel whose job also runs it (spark-kernel: \`spark\`, \`sc\`).
  hpc-jupyter kernelspec list [--json]
                                     The hpc-jupyter kernels Jupyter can find.
  hpc-jupyter kernelspec remove NAME [--user | --sys-prefix | --prefix DIR]
                                     Uninstall a kernel (NAME or hpcj-NAME).
  hpc-jupyter kernel --profile NAME -f CONNECTION_FILE
                                     The kernel itself, as Jupyter starts it.
`;

export interface KernelspecIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  readonly env?: Environment;
}

export async function kernelspecCommand(
  argv: readonly string[],
  io: KernelspecIo,
): Promise<ExitCode> {
  const env = io.env ?? process.env;
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      user: { type: 'boolean' },
      'sys-prefix': { type: 'boolean' },
      prefix: { type: 'string' },
      python: { type: 'string' },
      name: { type: 'string' },
      cluster: { type: 'string', short: 'c' },
      template: { type: 'string' },
      nodes: { type: 'string', short: 'N' },
      hours: { type: 'string', short: 'H' },
      partition: { type: 'string', short: 'p' },
      account: { type: 'string', short: 'A' },
      qos: { type: 'string', short: 'q' },
      param: { type: 'string', multiple: true, short: 'P' },
      json: { type: 'boolean' },
    },
  });
  const [action, target, ...extra] = positionals;
  if (extra.length > 0) throw new InvalidInputError(`Unexpected: ${extra.join(' ')}`);
  const location = locationOf(values);
  const json = values.json === true;
  switch (action) {
    case 'install': {
      const config = await loadConfig({ env });
      const creating = values.cluster !== undefined || values.template !== undefined;
      const profile = creating
        ? await createProfile(config, env, target, values, io)
        : existingProfile(config, target);
      const dataDir = await dataDirFor(location ?? { kind: 'user' }, env);
      const name = kernelSpecName(profile.name);
      const spec = buildKernelSpec(profile, { version: agentVersion(), env });
      const dir = await installKernelSpec(dataDir, name, spec);
      if (json) {
        io.out.write(`${JSON.stringify({ name, dir, spec }, null, 2)}\n`);
      } else {
        io.out.write(
          `Installed the kernel "${profile.displayName}" (${name}) in ${dir}.\n` +
            'Pick it in JupyterLab or VS Code; `jupyter kernelspec list` shows it.\n',
        );
      }
      return EXIT.ok;
    }
    case 'list': {
      const extraDirs = location?.kind === 'prefix' ? [await dataDirFor(location, env)] : [];
      const specs = await listKernelSpecs(jupyterDataDirs(env, extraDirs));
      if (json) {
        io.out.write(`${JSON.stringify({ kernelspecs: specs }, null, 2)}\n`);
        return EXIT.ok;
      }
      if (specs.length === 0) {
        io.err.write(
          'No hpc-jupyter kernels installed. Install one with `hpc-jupyter kernelspec install PROFILE`.\n',
        );
        return EXIT.ok;
      }
      const rows = [['NAME', 'DISPLAY NAME', 'PROFILE', 'CLUSTER', 'DIRECTORY']];
      for (const s of specs) {
        const meta = s.spec.metadata.hpc_jupyter;
        rows.push([s.name, s.spec.display_name, meta.profile, meta.cluster, s.dir]);
      }
      io.out.write(`${formatTable(rows)}\n`);
      return EXIT.ok;
    }
    case 'remove': {
      if (target === undefined)
        throw new InvalidInputError('Which kernel? e.g. hpc-jupyter kernelspec remove hpcj-spark4');
      const dirs =
        location === undefined ? jupyterDataDirs(env) : [await dataDirFor(location, env)];
      const removed = await removeKernelSpec(target, dirs);
      for (const dir of removed) io.out.write(`Removed ${dir}\n`);
      return EXIT.ok;
    }
    default:
      throw new InvalidInputError('Usage: hpc-jupyter kernelspec install|list|remove; see --help.');
  }
}

type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

function locationOf(values: Flags): SpecLocation | undefined {
  const chosen = [
    values['user'] === true,
    values['sys-prefix'] === true,
    values['prefix'] !== undefined,
  ];
  if (chosen.filter(Boolean).length > 1) {
    throw new InvalidInputError('Give at most one of --user, --sys-prefix and --prefix.');
  }
  if (values['sys-prefix'] === true) {
    const python = values['python'];
    return { kind: 'sys-prefix', ...(typeof python === 'string' ? { python } : {}) };
  }
  const prefix = values['prefix'];
  if (typeof prefix === 'string') return { kind: 'prefix', prefix };
  return values['user'] === true ? { kind: 'user' } : undefined;
}

function existingProfile(config: LoadedConfig, name: string | undefined): ProfileConfig {
  const known = [...config.profiles.keys()];
  if (name === undefined) {
    throw new InvalidInputError('Which profile? e.g. hpc-jupyter kernelspec install spark4', {
      hint:
        known.length > 0
          ? `Profiles: ${known.join(', ')}.`
          : 'Or create one with --cluster and --name.',
    });
  }
  const profile = config.profiles.get(name);
  if (profile !== undefined) return profile;
  const problem = config.problems.find(
    (p) => p.keyPath === `profiles.${name}` || p.keyPath?.startsWith(`profiles.${name}.`) === true,
  );
  if (problem !== undefined) throw problem;
  throw new InvalidInputError(`No profile named "${name}".`, {
    hint:
      known.length > 0
        ? `Profiles: ${known.join(', ')}. Or create it with --cluster, --template and --name.`
        : 'Create it with --cluster, --template and --name.',
  });
}

async function createProfile(
  config: LoadedConfig,
  env: Environment,
  name: string | undefined,
  values: Flags,
  io: KernelspecIo,
): Promise<ProfileConfig> {
  const cluster = values['cluster'];
  if (typeof cluster !== 'string')
    throw new InvalidInputError('A new profile needs --cluster CLUSTER.');
  if (!config.clusters.has(cluster)) {
    throw new InvalidInputError(`No cluster named "${cluster}".`, {
      hint: `Clusters: ${[...config.clusters.keys()].join(', ')}.`,
    });
  }
  const templateName = typeof values['template'] === 'string' ? values['template'] : 'kernel';
  const templates = await loadTemplates(templatesDir(env));
  const named = templates.get(templateName);
  if (named === undefined) {
    throw new InvalidInputError(`No template named "${templateName}".`, {
      hint: `Templates: ${[...templates.keys()].join(', ')}.`,
    });
  }
  // `--template spark` is the kernel whose job also runs Spark (spark-kernel): the profile names
  // what runs.
  const template = kernelTemplateFor(templates, templateName);
  if (template === undefined) {
    throw new InvalidInputError(
      `The template "${templateName}" starts ${named.kind === 'engine' ? 'an' : 'a'} ${named.kind}, not a kernel.`,
      { hint: `Kernel templates: ${kernelTemplateNames(templates).join(', ')}.` },
    );
  }
  const given: Record<string, string> = {};
  for (const flag of (values['param'] as string[] | undefined) ?? []) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new InvalidInputError(`--param wants NAME=VALUE, got "${flag}".`);
    given[flag.slice(0, eq)] = flag.slice(eq + 1);
  }
  for (const key of ['nodes', 'hours', 'partition', 'account', 'qos'] as const) {
    const v = values[key];
    if (typeof v === 'string') given[key] = v;
  }
  // Checked and typed by the template; only what was given goes into the profile.
  const typed = validateParams(template, given);
  const params: Record<string, ParamValue> = {};
  for (const key of Object.keys(given)) {
    const v = typed[key];
    if (v !== undefined) params[key] = v;
  }
  const displayName =
    typeof values['name'] === 'string' && values['name'].trim() !== ''
      ? values['name'].trim()
      : `${template.title} on ${cluster}`;
  const profile: ProfileConfig = {
    name: name ?? profileNameFrom(displayName),
    displayName,
    cluster,
    template: template.name,
    ...(Object.keys(params).length === 0 ? {} : { params }),
  };
  const file = await profileFileFor(env);
  const before = config.profiles.get(profile.name);
  await writeProfile(file, profile);
  if (before !== undefined && before.source !== file) {
    io.err.write(`Note: "${profile.name}" is also defined in ${before.source}.\n`);
  }
  io.err.write(
    `${before === undefined ? 'Added' : 'Replaced'} the profile "${profile.name}" in ${file}.\n`,
  );
  return profile;
}
