/**
 * `hpc-jupyter jupyterlab install [--user | --sys-prefix | --prefix DIR]`: installs the prebuilt
 * JupyterLab extension (packages/jupyterlab-ext/labextension) where JupyterLab finds prebuilt
 * extensions. The browser's route to the agent (`<base_url>hpc-jupyter/`, behind Jupyter's own
 * authentication) is not configured here: hpc-jupyter's Python package registers it with
 * jupyter-server-proxy through an entry point (templates/python/hpc_jupyter/serverproxy.py), so
 * each user's Jupyter server finds that user's own agent socket. A socket path written into a
 * config would be the installer's, and on a shared install every user's JupyterLab would talk to
 * whoever owns that path. Install therefore removes such an entry left by an older version, and
 * checks that the Python package is there. `uninstall` removes what install made.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { Environment } from '../config/paths.js';
import { HpcError, InvalidInputError } from '../errors.js';
import { dataDirFor, pythonPrefix, type SpecLocation } from '../kernel/kernelspec.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export const JUPYTERLAB_HELP = `  hpc-jupyter jupyterlab install [--user | --sys-prefix | --prefix DIR] [--json]
                                     Install the JupyterLab extension (the HPC sidebar); the
                                     route to the agent comes with hpc-jupyter's Python package.
  hpc-jupyter jupyterlab uninstall [--user | --sys-prefix | --prefix DIR]
`;

const execFileP = promisify(execFile);

export const EXTENSION_NAME = '@hpc-jupyter/jupyterlab';
/** The jupyter-server-proxy route: the browser reaches the agent at `<base_url>hpc-jupyter/`. */
export const PROXY_NAME = 'hpc-jupyter';
/** The entry point group jupyter-server-proxy reads, and the package that provides ours. */
export const PROXY_ENTRY_POINT_GROUP = 'jupyter_serverproxy_servers';
export const PYTHON_PACKAGE_DIR = fileURLToPath(
  new URL('../../../../templates/python/', import.meta.url),
);
/** Where older versions wrote the route (with the installer's socket path); now only cleaned. */
export const SERVER_CONFIG_FILE = 'jupyter_server_config.json';

/** The built extension shipped beside the core (the repository's layout). */
export const BUILT_EXTENSION_DIR = fileURLToPath(
  new URL('../../../jupyterlab-ext/labextension/', import.meta.url),
);

export interface JupyterlabIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  readonly env?: Environment;
}

export interface InstallResult {
  readonly extensionDir: string;
  /** An older version's ServerProxy entry (a fixed socket path) removed from this file. */
  readonly legacyConfigCleaned?: string;
  /** The Python asked whether it has the route's entry point. */
  readonly python: string;
  /** True: that Python's Jupyter serves the route; false: it lacks the package; undefined: unknown. */
  readonly routeRegistered?: boolean;
}

export async function jupyterlabCommand(
  argv: readonly string[],
  io: JupyterlabIo,
): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      user: { type: 'boolean' },
      'sys-prefix': { type: 'boolean' },
      prefix: { type: 'string' },
      python: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const env = io.env ?? process.env;
  const picked = [values.user, values['sys-prefix'], values.prefix !== undefined].filter(Boolean);
  if (picked.length > 1) {
    throw new InvalidInputError('Give at most one of --user, --sys-prefix and --prefix DIR.');
  }
  const location: SpecLocation =
    values.prefix !== undefined
      ? { kind: 'prefix', prefix: values.prefix }
      : values['sys-prefix'] === true
        ? { kind: 'sys-prefix', ...(values.python === undefined ? {} : { python: values.python }) }
        : { kind: 'user' };
  switch (positionals[0]) {
    case 'install': {
      const result = await installJupyterlab(location, env);
      if (values.json === true) io.out.write(`${JSON.stringify(result)}\n`);
      else {
        io.out.write(`Installed ${EXTENSION_NAME} in ${result.extensionDir}\n`);
        if (result.legacyConfigCleaned !== undefined) {
          io.out.write(
            `Removed the old fixed agent socket entry from ${result.legacyConfigCleaned}\n`,
          );
        }
        io.out.write('Restart Jupyter to load it.\n');
      }
      if (result.routeRegistered !== true) {
        io.err.write(
          `${result.routeRegistered === false ? `${result.python} has no` : `Could not check that ${result.python} has`} hpc-jupyter's Python package, which gives JupyterLab its route to the agent: install it into the environment that runs Jupyter with \`${result.python} -m pip install ${PYTHON_PACKAGE_DIR}\`.\n`,
        );
      }
      return EXIT.ok;
    }
    case 'uninstall': {
      const removed = await uninstallJupyterlab(location, env);
      io.out.write(
        removed.length === 0 ? 'Nothing to remove.\n' : `Removed ${removed.join(', ')}\n`,
      );
      return EXIT.ok;
    }
    default:
      throw new InvalidInputError(
        'Usage: hpc-jupyter jupyterlab install|uninstall [--user | --sys-prefix | --prefix DIR]',
      );
  }
}

/** The Jupyter config directory (holding `jupyter_server_config.d/`) for a location. */
export async function configDirFor(location: SpecLocation, env: Environment): Promise<string> {
  switch (location.kind) {
    case 'user': {
      const dir = env['JUPYTER_CONFIG_DIR'];
      return dir !== undefined && dir !== '' ? dir : path.join(os.homedir(), '.jupyter');
    }
    case 'sys-prefix':
      return path.join(await pythonPrefix(env, location.python), 'etc', 'jupyter');
    case 'prefix':
      return path.join(path.resolve(location.prefix), 'etc', 'jupyter');
  }
}

type JsonObject = Record<string, unknown>;

function asObject(value: unknown): JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? { ...(value as JsonObject) }
    : {};
}

/** The file's JSON object; {} when it does not exist. Refuses to overwrite a broken file. */
async function readJsonObject(file: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    return asObject(JSON.parse(text));
  } catch (cause) {
    throw new HpcError(`${file} is not valid JSON; not changing it.`, {
      cause,
      hint: 'Fix or move the file, then run the command again.',
    });
  }
}

export async function installJupyterlab(
  location: SpecLocation,
  env: Environment,
  source: string = BUILT_EXTENSION_DIR,
): Promise<InstallResult> {
  const built = path.join(source, 'package.json');
  try {
    await stat(built);
  } catch (cause) {
    // An installed hpc-jupyter (the npm package, the .vsix) has no extension to copy: the
    // Python package brings it prebuilt. A checkout has the extension's sources to build.
    const checkout = await exists(path.join(source, '..', 'package.json'));
    throw new HpcError(`The JupyterLab extension is not built: ${built} is missing.`, {
      cause,
      hint: checkout
        ? 'Build it with `npm run build:labextension -w packages/jupyterlab-ext`.'
        : "Install hpc-jupyter's Python package into the environment that runs JupyterLab " +
          '(`pip install hpc-jupyter`): it brings the extension prebuilt, and the route to the agent.',
    });
  }
  const dataDir = await dataDirFor(location, env);
  const extensionDir = path.join(dataDir, 'labextensions', ...EXTENSION_NAME.split('/'));
  await rm(extensionDir, { recursive: true, force: true });
  await mkdir(path.dirname(extensionDir), { recursive: true });
  await cp(source, extensionDir, { recursive: true });
  const installJson = {
    packageManager: 'hpc-jupyter',
    packageName: EXTENSION_NAME,
    uninstallInstructions: `Run \`hpc-jupyter jupyterlab uninstall ${flagFor(location)}\`.`,
  };
  await writeFile(
    path.join(extensionDir, 'install.json'),
    `${JSON.stringify(installJson, null, 2)}\n`,
  );

  const legacy = await removeLegacyProxyEntry(location, env);
  const python = await pythonFor(location, env);
  const routeRegistered = await hasRouteEntryPoint(python, env);
  return {
    extensionDir,
    ...(legacy === undefined ? {} : { legacyConfigCleaned: legacy }),
    python,
    ...(routeRegistered === undefined ? {} : { routeRegistered }),
  };
}

/** The Python whose Jupyter the install is for: --python, the active environment, python3. */
export async function pythonFor(location: SpecLocation, env: Environment): Promise<string> {
  if (location.kind === 'sys-prefix' && location.python !== undefined) return location.python;
  const prefixes =
    location.kind === 'prefix'
      ? [path.resolve(location.prefix)]
      : [env['VIRTUAL_ENV'], env['CONDA_PREFIX']].filter(
          (p): p is string => p !== undefined && p !== '',
        );
  for (const prefix of prefixes) {
    const candidate = path.join(prefix, 'bin', 'python');
    if (await exists(candidate)) return candidate;
  }
  return 'python3';
}

/** Whether `python` sees our jupyter-server-proxy entry point; undefined if it cannot be run. */
export async function hasRouteEntryPoint(
  python: string,
  env: Environment,
): Promise<boolean | undefined> {
  const code =
    'import importlib.metadata as m, sys; ' +
    `sys.exit(0 if any(e.name == ${JSON.stringify(PROXY_NAME)} for e in ` +
    `m.entry_points(group=${JSON.stringify(PROXY_ENTRY_POINT_GROUP)})) else 3)`;
  try {
    await execFileP(python, ['-c', code], { timeout: 30_000, env: { ...env } });
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 3 ? false : undefined;
  }
}

/**
 * Removes `ServerProxy.servers["hpc-jupyter"]` from the location's jupyter_server_config.json,
 * leaving every other setting as it was; returns the file if it changed. jupyter-server-proxy
 * would give such an entry precedence over the entry point.
 */
async function removeLegacyProxyEntry(
  location: SpecLocation,
  env: Environment,
): Promise<string | undefined> {
  const configFile = path.join(await configDirFor(location, env), SERVER_CONFIG_FILE);
  if (!(await exists(configFile))) return undefined;
  const config = await readJsonObject(configFile);
  const proxy = asObject(config['ServerProxy']);
  const servers = asObject(proxy['servers']);
  if (!(PROXY_NAME in servers)) return undefined;
  proxy['servers'] = Object.fromEntries(
    Object.entries(servers).filter(([name]) => name !== PROXY_NAME),
  );
  config['ServerProxy'] = proxy;
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return configFile;
}

export async function uninstallJupyterlab(
  location: SpecLocation,
  env: Environment,
): Promise<string[]> {
  const removed: string[] = [];
  const extensionDir = path.join(
    await dataDirFor(location, env),
    'labextensions',
    ...EXTENSION_NAME.split('/'),
  );
  if (await exists(extensionDir)) {
    await rm(extensionDir, { recursive: true, force: true });
    removed.push(extensionDir);
  }
  const cleaned = await removeLegacyProxyEntry(location, env);
  if (cleaned !== undefined) removed.push(`${cleaned} (ServerProxy.servers.${PROXY_NAME})`);
  return removed;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function flagFor(location: SpecLocation): string {
  switch (location.kind) {
    case 'user':
      return '--user';
    case 'sys-prefix':
      return '--sys-prefix';
    case 'prefix':
      return `--prefix ${location.prefix}`;
  }
}
