/**
 * The transport for clusters reached without SSH: commands are child processes of this machine,
 * files are local files, and a "tunnel" is a loopback relay to a local port (refusing other users'
 * connections, and in mutual TLS to a job's relay when asked). It owns the child processes it
 * starts and the listeners it opens, and ends them on `close()`.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { writeFileAtomic } from '../util/atomic-file.js';
import { AbortedError, CommandError, throwIfAborted, TimeoutError } from '../errors.js';
import { refuseOtherUsers } from './peer-guard.js';
import { coalesceWrites } from './ssh-write-coalesce.js';
import { tlsUpstream } from './tls-upstream.js';
import type {
  FileOptions,
  ForwardOptions,
  PortForward,
  RunOptions,
  RunResult,
  Transport,
  WriteFileOptions,
} from './types.js';

/** How long a command gets between SIGTERM and SIGKILL once it must stop. */
const KILL_GRACE_MS = 2_000;

export interface LocalTransportOptions {
  /** Milliseconds between SIGTERM and SIGKILL for commands that time out or are cancelled. */
  readonly killGraceMs?: number;
  /** Debug messages (a forward's refused connections), like the SSH transport's. */
  readonly debug?: (message: string) => void;
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly label = 'local';
  private readonly killGraceMs: number;
  private readonly debug: ((message: string) => void) | undefined;
  private readonly running = new Set<AbortController>();
  private readonly forwards = new Set<PortForward>();

  constructor(options: LocalTransportOptions = {}) {
    this.killGraceMs = options.killGraceMs ?? KILL_GRACE_MS;
    this.debug = options.debug;
  }

  /**
   * Runs argv without a shell. The child leads its own process group (spawn `detached` calls
   * setsid), so a timeout or cancel can stop everything it started, not just the first process.
   */
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.signal?.aborted === true) {
      return Promise.reject(new AbortedError(undefined, { cause: options.signal.reason }));
    }
    const [command, ...args] = argv;
    if (command === undefined || command === '') {
      return Promise.reject(new CommandError('No command given.', argv, null, ''));
    }
    const owner = new AbortController();
    this.running.add(owner);
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(command, args, {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...options.env },
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      let closed = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        owner.signal.removeEventListener('abort', onAbort);
        this.running.delete(owner);
        outcome();
      };
      const stop = (error: Error): void => {
        finish(() => {
          reject(error);
        });
        killGroup(child, 'SIGTERM');
        // Escalate only while the group still holds our pipes: once they close, it is gone.
        setTimeout(() => {
          if (!closed) killGroup(child, 'SIGKILL');
        }, this.killGraceMs).unref();
      };
      const onAbort = (): void => {
        stop(new AbortedError(`Cancelled: ${command}`, { cause: options.signal?.reason }));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      owner.signal.addEventListener('abort', onAbort, { once: true });
      if (options.timeout !== undefined) {
        timer = setTimeout(() => {
          stop(new TimeoutError(`'${command}' did not finish within ${options.timeout} ms.`));
        }, options.timeout);
      }

      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      // A command that exits without reading its input makes the write fail with EPIPE; that is
      // the command's business, and its exit status says what happened.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin ?? '');

      child.on('error', (error: NodeJS.ErrnoException) => {
        finish(() => {
          reject(spawnError(argv, error));
        });
      });
      child.on('close', (code) => {
        closed = true;
        finish(() => {
          resolve({
            code,
            stdout: Buffer.concat(stdout).toString('utf8'),
            stderr: Buffer.concat(stderr).toString('utf8'),
          });
        });
      });
    });
  }

  async readFile(file: string, options: FileOptions = {}): Promise<Buffer> {
    return readFile(file, { signal: options.signal });
  }

  /**
   * Temp file beside the target, created with `mode` and chmod-ed again (the process umask
   * would otherwise narrow it), synced, then renamed: readers see the old file or the new one.
   */
  async writeFileAtomic(
    file: string,
    data: string | Uint8Array,
    options: WriteFileOptions,
  ): Promise<void> {
    await writeFileAtomic(file, data, options);
  }

  /** Directories it creates get `mode` (umask permitting); the last one is chmod-ed to it. */
  async mkdir(dir: string, options: WriteFileOptions): Promise<void> {
    throwIfAborted(options.signal);
    await mkdir(dir, { recursive: true, mode: options.mode });
    await chmod(dir, options.mode);
  }

  async exists(file: string, options: FileOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    try {
      await stat(file);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return false;
      throw error;
    }
  }

  async remove(file: string, options: FileOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    try {
      await unlink(file);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }

  /** For a local cluster the "remote" side is this machine: relay 127.0.0.1:port to it. */
  async forward(
    remoteHost: string,
    remotePort: number,
    options: ForwardOptions = {},
  ): Promise<PortForward> {
    throwIfAborted(options.signal);
    const sockets = new Set<net.Socket>();
    const { tls } = options;
    // 127.0.0.1 is every local user's: only a peer of our own uid gets an upstream connection,
    // checked before a byte is read (pauseOnConnect).
    const relay = (client: net.Socket): void => {
      const plain = net.connect({ host: remoteHost, port: remotePort, noDelay: true });
      const upstream = tls === undefined ? plain : tlsUpstream(plain, tls);
      sockets.add(client).add(plain).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        plain.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
        sockets.delete(plain);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      plain.on('error', drop);
      // Several TLS records decrypted from one read reach the client in one write.
      coalesceWrites(client);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    // noDelay both ways: small writes (kernel messages) go out at once, not after an ACK.
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
      client.on('error', () => client.destroy());
      void refuseOtherUsers(client, this.debug).then((own) => {
        if (own) relay(client);
      });
    });
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        server.close();
        reject(new AbortedError('Cancelled while opening a port forward.'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      // Kept after listening too: a later accept error (EMFILE) must not crash the process.
      let listening = false;
      server.on('error', (error) => {
        if (listening) return;
        options.signal?.removeEventListener('abort', onAbort);
        reject(error);
      });
      server.listen({ host: '127.0.0.1', port: options.localPort ?? 0 }, () => {
        listening = true;
        options.signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    const forwards = this.forwards;
    const forward: PortForward = {
      localHost: '127.0.0.1',
      localPort: address.port,
      remoteHost,
      remotePort,
      close: () =>
        new Promise<void>((resolve) => {
          forwards.delete(forward);
          for (const socket of sockets) socket.destroy();
          server.close(() => {
            resolve();
          });
        }),
    };
    forwards.add(forward);
    return forward;
  }

  /** Stops commands still running (as if cancelled) and closes every forward. */
  async close(): Promise<void> {
    for (const owner of this.running) owner.abort();
    await Promise.all([...this.forwards].map((f) => f.close()));
  }
}

/** Signals the child's whole process group; it may be gone already, which is fine. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has ended.
  }
}

function spawnError(argv: readonly string[], error: NodeJS.ErrnoException): CommandError {
  const command = argv[0] ?? '';
  if (error.code === 'ENOENT') {
    return new CommandError(`Command not found: ${command}`, argv, null, '', {
      cause: error,
      hint: `Install ${command}, or check that it is on the PATH of the hpc-jupyter agent.`,
    });
  }
  if (error.code === 'EACCES') {
    return new CommandError(`Permission denied running ${command}`, argv, null, '', {
      cause: error,
      hint: `Check that ${command} is executable.`,
    });
  }
  return new CommandError(`Could not start ${command}: ${error.message}`, argv, null, '', {
    cause: error,
  });
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
