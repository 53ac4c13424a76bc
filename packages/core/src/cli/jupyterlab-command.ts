/**
 * `hpc-jupyter jupyterlab install [--user | --sys-prefix | --prefix DIR]`: installs the prebuilt
 * JupyterLab extension (packages/jupyterlab-ext/labextension) where JupyterLab finds prebuilt
 * extensions, and registers the agent's unix socket with jupyter-server-proxy as
 * `<base_url>hpc-jupyter/`, so the browser reaches the agent behind Jupyter's own authentication.
 * `uninstall` removes both. Only files this command made are touched.
 */
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { agentSocketPath } from '../agent/socket-path.js';
import type { Environment } from '../config/paths.js';
import { HpcError, InvalidInputError } from '../errors.js';
import { dataDirFor, pythonPrefix, type SpecLocation } from '../kernel/kernelspec.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export const JUPYTERLAB_HELP = `  hpc-jupyter jupyterlab install [--user | --sys-prefix | --prefix DIR] [--json]
                                     Install the JupyterLab extension (the HPC sidebar) and
                                     register the agent with jupyter-server-proxy.
  hpc-jupyter jupyterlab uninstall [--user | --sys-prefix | --prefix DIR]
`;

export const EXTENSION_NAME = '@hpc-jupyter/jupyterlab';
/** The jupyter-server-proxy entry: the browser reaches the agent at `<base_url>hpc-jupyter/`. */
export const PROXY_NAME = 'hpc-jupyter';
/**
 * Jupyter server reads general settings only from `jupyter_server_config.{py,json}` (its `.d/`
 * directories carry extension switches alone), so our entry is merged into that JSON file and
 * removed from it again, leaving every other setting there as it was.
 */
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
  readonly serverConfigFile: string;
  readonly socketPath: string;
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
        io.out.write(
          `Installed ${EXTENSION_NAME} in ${result.extensionDir}\n` +
            `Registered the agent (${result.socketPath}) with jupyter-server-proxy in ` +
            `${result.serverConfigFile}\nRestart Jupyter to load them.\n`,
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

/**
 * The jupyter-server-proxy entry. No `command`: the agent is started on demand by any client
 * (CLI, kernels, VS Code) and outlives Jupyter; a supervised child of the server would not.
 * Streams (the agent's server-sent events) pass through because the proxy streams any request
 * that asks for `text/event-stream`.
 */
export function serverProxyEntry(socketPath: string): Record<string, unknown> {
  return {
    unix_socket: socketPath,
    launcher_entry: { enabled: false },
    new_browser_tab: false,
  };
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
    throw new HpcError(`The JupyterLab extension is not built: ${built} is missing.`, {
      cause,
      hint: 'Build it with `npm run build:labextension -w packages/jupyterlab-ext`.',
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

  const configDir = await configDirFor(location, env);
  await mkdir(configDir, { recursive: true });
  const socketPath = agentSocketPath(env);
  const serverConfigFile = path.join(configDir, SERVER_CONFIG_FILE);
  const config = await readJsonObject(serverConfigFile);
  const proxy = asObject(config['ServerProxy']);
  const servers = asObject(proxy['servers']);
  servers[PROXY_NAME] = serverProxyEntry(socketPath);
  proxy['servers'] = servers;
  config['ServerProxy'] = proxy;
  await writeFile(serverConfigFile, `${JSON.stringify(config, null, 2)}\n`);
  return { extensionDir, serverConfigFile, socketPath };
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
  const configFile = path.join(await configDirFor(location, env), SERVER_CONFIG_FILE);
  if (await exists(configFile)) {
    const config = await readJsonObject(configFile);
    const proxy = asObject(config['ServerProxy']);
    const servers = asObject(proxy['servers']);
    if (PROXY_NAME in servers) {
      proxy['servers'] = Object.fromEntries(
        Object.entries(servers).filter(([name]) => name !== PROXY_NAME),
      );
      config['ServerProxy'] = proxy;
      await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
      removed.push(`${configFile} (ServerProxy.servers.${PROXY_NAME})`);
    }
  }
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
