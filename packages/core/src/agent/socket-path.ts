/**
 * Where the agent listens and keeps its files on this machine: the runtime directory (0700,
 * ours, never a symlink) holding the unix socket and the start-up lock, and the state directory
 * holding the log. The socket is the agent's only access control, so the directory's ownership
 * and mode are checked before every use rather than trusted.
 */
import { lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Environment } from '../config/paths.js';
import { ConflictError, HpcError } from '../errors.js';

export const SOCKET_NAME = 'agent.sock';
export const LOCK_NAME = 'agent.lock';

function currentUid(): number {
  // process.getuid is absent only on Windows, where the agent does not run.
  return process.getuid?.() ?? -1;
}

/**
 * `$XDG_RUNTIME_DIR/hpc-jupyter`, else `/tmp/hpc-jupyter-<uid>`. A relative XDG_RUNTIME_DIR is
 * invalid by the XDG spec and ignored, as for the config directory.
 */
export function agentRuntimeDir(env: Environment = process.env, uid = currentUid()): string {
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg !== '' && path.isAbsolute(xdg)) return path.join(xdg, 'hpc-jupyter');
  return path.join(os.tmpdir(), `hpc-jupyter-${uid}`);
}

export function agentSocketPath(env: Environment = process.env, uid = currentUid()): string {
  return path.join(agentRuntimeDir(env, uid), SOCKET_NAME);
}

/** `$XDG_STATE_HOME/hpc-jupyter`, else `~/.local/state/hpc-jupyter`: where the log lives. */
export function agentStateDir(env: Environment = process.env, home = os.homedir()): string {
  const xdg = env['XDG_STATE_HOME'];
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'state');
  return path.join(base, 'hpc-jupyter');
}

export function agentLogPath(env: Environment = process.env, home = os.homedir()): string {
  return path.join(agentStateDir(env, home), 'agent.log');
}

/**
 * Creates `dir` with mode 0700 if it is missing, then checks that it is a real directory (not a
 * symlink), owned by us, and that nobody else may enter it. Anything else is refused: in a shared
 * /tmp another user could have made the directory first to intercept the socket.
 */
export async function ensurePrivateDir(dir: string, uid = currentUid()): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new HpcError(`Cannot create the agent's directory ${dir}.`, {
        cause: err,
        hint: 'Check that its parent exists and is writable (XDG_RUNTIME_DIR or the temp directory).',
      });
    }
  }
  const info = await lstat(dir);
  const refuse = (what: string, hint: string): never => {
    throw new HpcError(`Refusing to use ${dir}: ${what}.`, { hint });
  };
  if (info.isSymbolicLink()) {
    refuse('it is a symbolic link', 'Remove the link; the agent creates the directory itself.');
  }
  if (!info.isDirectory()) {
    refuse('it is not a directory', 'Remove it; the agent creates the directory itself.');
  }
  if (uid >= 0 && info.uid !== uid) {
    refuse(
      `it belongs to user ${info.uid}, not to you (${uid})`,
      'Another user may be trying to intercept the agent: ask your administrator, or set XDG_RUNTIME_DIR to a private directory.',
    );
  }
  if ((info.mode & 0o777) !== 0o700) {
    refuse(
      `its mode is ${(info.mode & 0o777).toString(8).padStart(4, '0')}, not 0700`,
      `Run \`chmod 700 ${dir}\` if you made it, or remove it.`,
    );
  }
}

/** True when something accepts connections on the unix socket `socketPath`. */
export function socketAnswers(socketPath: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    const done = (answers: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answers);
    };
    // A socket that accepts but hangs still belongs to a live process: count it as answering.
    const timer = setTimeout(() => {
      done(true);
    }, timeoutMs);
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/**
 * Makes `socketPath` free to listen on: a stale socket (nobody answers) is removed; a live one
 * means another agent runs; anything that is not a socket is left alone and refused.
 */
export async function clearStaleSocket(socketPath: string): Promise<void> {
  let info;
  try {
    info = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!info.isSocket()) {
    throw new HpcError(`Refusing to replace ${socketPath}: it is not a socket.`, {
      hint: 'Remove the file; the agent creates its socket itself.',
    });
  }
  if (await socketAnswers(socketPath)) {
    throw new ConflictError(`Another hpc-jupyter agent is already listening on ${socketPath}.`, {
      hint: 'Clients use the running agent; it stops by itself when idle, or on POST /v1/shutdown.',
    });
  }
  await unlink(socketPath).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}
