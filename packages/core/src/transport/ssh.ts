/**
 * The SSH transport: one multiplexed connection per cluster (so MFA is answered once), commands
 * as quoted exec channels limited to what sshd's MaxSessions allows, files over one lazily opened
 * SFTP session, and local port forwards. A dropped connection is re-established by the next
 * operation (concurrent callers share the attempt); work that was in flight fails with
 * ConnectionLostError and is never re-run silently.
 */

import { homedir } from 'node:os';
import { join } from 'node:path';

import { ConnectionLostError, InvalidInputError, SshError, TimeoutError } from '../errors.js';
import { delay, raceAbort, withDeadline } from './ssh-abort.js';
import { loadSshConfig } from './ssh-config-load.js';
import { resolveRoute, type ResolvedRoute } from './ssh-config.js';
import { openConnection, type SshConnection } from './ssh-connect.js';
import { execCommand, isChannelRefusal, NotStartedError, SessionRefusedError } from './ssh-exec.js';
import { LocalForward } from './ssh-forward.js';
import type { SshTarget, SshTransportOptions } from './ssh-options.js';
import { SessionLimiter } from './ssh-session-limit.js';
import { SftpFiles } from './ssh-sftp.js';
import { describeArgv, remoteCommandLine } from './shell-quote.js';
import type {
  FileOptions,
  ForwardOptions,
  PortForward,
  RunOptions,
  RunResult,
  Transport,
  WriteFileOptions,
} from './types.js';

export type { SshPrompter, SshTarget, SshTransportOptions } from './ssh-options.js';

const DEFAULT_MAX_SESSIONS = 8;
/** Session refusals tolerated per command (with backoff, about 4 s in all). */
const MAX_SESSION_RETRIES = 8;

export class SshTransport implements Transport {
  readonly kind = 'ssh';
  private readonly lifetime = new AbortController();
  private readonly limiter: SessionLimiter;
  private readonly homeDir: string;
  private readonly accepted = new Map<string, Buffer[]>();
  private readonly forwards = new Set<LocalForward>();
  private current: Promise<SshConnection> | undefined;
  private sftp: { readonly conn: SshConnection; readonly files: Promise<SftpFiles> } | undefined;
  private route: ResolvedRoute | undefined;
  private closed = false;

  constructor(
    readonly target: SshTarget,
    private readonly options: SshTransportOptions = {},
  ) {
    this.limiter = new SessionLimiter(options.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.homeDir = options.homeDir ?? homedir();
  }

  /** "user@host" once the config is resolved; the host (alias) as given before. */
  get label(): string {
    const user = this.route?.target.user ?? this.target.user;
    return user === undefined ? this.target.host : `${user}@${this.target.host}`;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const command = remoteCommandLine(argv, options.env);
    const { timeout } = options;
    const deadline = withDeadline(
      [options.signal, this.lifetime.signal],
      timeout,
      () =>
        new TimeoutError(
          `${describeArgv(argv)} on ${this.label} did not finish within ${timeout ?? 0} ms and was stopped.`,
        ),
    );
    const signal = deadline.signal;
    try {
      for (let attempt = 0; ; attempt++) {
        const release = await this.limiter.acquire(signal);
        try {
          const conn = await this.connection(signal);
          return await execCommand(
            conn,
            {
              argv,
              command,
              signal,
              ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
            },
            this.hostName(),
          );
        } catch (err) {
          if (err instanceof NotStartedError && attempt < MAX_SESSION_RETRIES) continue;
          if (!(err instanceof SessionRefusedError) || attempt >= MAX_SESSION_RETRIES) throw err;
          // Refusing the `active`th session means MaxSessions is below it: remember that. Never
          // below 2, or the long-lived SFTP session could starve every command. A refusal can
          // also race a session the server has not finished closing, hence the short wait.
          this.limiter.lower(Math.max(2, this.limiter.active - 1));
        } finally {
          release();
        }
        await delay(Math.min(1000, 20 * 2 ** attempt), signal);
      }
    } finally {
      deadline.dispose();
    }
  }

  async readFile(path: string, options: FileOptions = {}): Promise<Buffer> {
    return this.withFiles('read', path, options.signal, (f, signal) => f.readFile(path, signal));
  }

  async writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    options: WriteFileOptions,
  ): Promise<void> {
    checkMode(options.mode);
    await this.withFiles('write', path, options.signal, (f, signal) =>
      f.writeFileAtomic(path, data, options.mode, signal),
    );
  }

  async mkdir(path: string, options: WriteFileOptions): Promise<void> {
    checkMode(options.mode);
    await this.withFiles('create', path, options.signal, (f, signal) =>
      f.mkdir(path, options.mode, signal),
    );
  }

  async exists(path: string, options: FileOptions = {}): Promise<boolean> {
    return this.withFiles('check', path, options.signal, (f, signal) => f.exists(path, signal));
  }

  async remove(path: string, options: FileOptions = {}): Promise<void> {
    await this.withFiles('remove', path, options.signal, (f, signal) => f.remove(path, signal));
  }

  async forward(
    remoteHost: string,
    remotePort: number,
    options: ForwardOptions = {},
  ): Promise<PortForward> {
    const signal = AbortSignal.any([
      this.lifetime.signal,
      ...(options.signal === undefined ? [] : [options.signal]),
    ]);
    // Connect now, so a login problem shows up here rather than on the first forwarded socket.
    await this.connection(signal);
    const forward: LocalForward = await LocalForward.listen({
      remoteHost,
      remotePort,
      localPort: options.localPort ?? 0,
      connection: () => this.connection(this.lifetime.signal),
      host: this.hostName(),
      signal,
      ...(this.options.debug === undefined ? {} : { debug: this.options.debug }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      onClose: () => this.forwards.delete(forward),
    });
    if (this.closed) {
      await forward.close();
      throw this.closedError();
    }
    this.forwards.add(forward);
    return forward;
  }

  /** Ends forwards, the SFTP session and the connection; later calls fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = this.closedError();
    this.lifetime.abort(err);
    this.limiter.rejectAll(err);
    await Promise.all([...this.forwards].map((f) => f.close()));
    const pending = this.current;
    this.current = undefined;
    this.sftp = undefined;
    const conn = await pending?.catch(() => undefined);
    conn?.end();
  }

  /** The live connection, connecting (once, shared) when there is none or it was lost. */
  private async connection(signal: AbortSignal): Promise<SshConnection> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.closed) throw this.closedError();
      this.current ??= this.connect();
      const pending = this.current;
      const conn = await raceAbort(pending, signal);
      if (!conn.closed) return conn;
      // Lost between our last use and now: forget it so this attempt reconnects.
      if (this.current === pending) this.current = undefined;
    }
    throw new ConnectionLostError(
      `The SSH connection to ${this.label} keeps dropping.`,
      this.hostName(),
    );
  }

  private connect(): Promise<SshConnection> {
    const attempt = (async () => {
      const loaded = await loadSshConfig(
        {
          userFile:
            this.target.configFile === undefined
              ? join(this.homeDir, '.ssh', 'config')
              : this.target.configFile,
          systemFile:
            this.options.systemConfigFile === undefined
              ? '/etc/ssh/ssh_config'
              : this.options.systemConfigFile,
          homeDir: this.homeDir,
        },
        this.lifetime.signal,
      );
      const route = resolveRoute(this.target, {
        config: loaded.config,
        homeDir: this.homeDir,
        ...(this.options.globalKnownHostsFiles === undefined
          ? {}
          : { globalKnownHostsFiles: this.options.globalKnownHostsFiles }),
      });
      this.route = route;
      const envSock = process.env['SSH_AUTH_SOCK'];
      const agentSocket =
        this.options.agentSocket === undefined ? envSock : (this.options.agentSocket ?? undefined);
      return openConnection(route, {
        homeDir: this.homeDir,
        prompter: this.options.prompter,
        agentSocket,
        accepted: this.accepted,
        signal: this.lifetime.signal,
        ...(this.options.debug === undefined ? {} : { debug: this.options.debug }),
      });
    })();
    attempt.then(
      (conn) => {
        if (this.closed) conn.end();
        conn.onLost(() => {
          if (this.current === attempt) this.current = undefined;
        });
      },
      () => {
        // A failed attempt is not cached: the next operation tries again.
        if (this.current === attempt) this.current = undefined;
      },
    );
    return attempt;
  }

  /** The SFTP session of the live connection, opened once per connection. */
  private async files(signal: AbortSignal): Promise<{ conn: SshConnection; files: SftpFiles }> {
    const conn = await this.connection(signal);
    if (this.sftp?.conn !== conn) {
      const files = this.openSftp(conn);
      this.sftp = { conn, files };
      files.catch(() => {
        if (this.sftp?.files === files) this.sftp = undefined;
      });
    }
    return { conn, files: await raceAbort(this.sftp.files, signal) };
  }

  private async openSftp(conn: SshConnection): Promise<SftpFiles> {
    for (let attempt = 0; ; attempt++) {
      // The SFTP session is a session channel too: it holds a slot for as long as it is open.
      const release = await this.limiter.acquire(this.lifetime.signal);
      try {
        const files = await SftpFiles.open(conn.client, this.hostName());
        const forget = (): void => {
          release();
          if (this.sftp?.conn === conn) this.sftp = undefined;
        };
        files.sftp.once('close', forget);
        conn.onLost(forget);
        return files;
      } catch (err) {
        release();
        if (conn.closed) throw this.lostError('opening SFTP', '', err);
        // Refused like a command's session (see run): the server may not have finished closing
        // a session that we already counted as free.
        if (!isChannelRefusal(err) || attempt >= MAX_SESSION_RETRIES) throw err;
      }
      await delay(Math.min(1000, 20 * 2 ** attempt), this.lifetime.signal);
    }
  }

  private async withFiles<T>(
    what: string,
    path: string,
    callerSignal: AbortSignal | undefined,
    fn: (files: SftpFiles, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const signal = AbortSignal.any([
      this.lifetime.signal,
      ...(callerSignal === undefined ? [] : [callerSignal]),
    ]);
    const { conn, files } = await this.files(signal);
    try {
      return await raceAbort(fn(files, signal), signal);
    } catch (err) {
      throw conn.closed && !signal.aborted ? this.lostError(what, path, err) : err;
    }
  }

  private lostError(what: string, path: string, cause: unknown): ConnectionLostError {
    return new ConnectionLostError(
      `The SSH connection to ${this.label} was lost while trying to ${what} ${path}.`.replace(
        / \.$/,
        '.',
      ),
      this.hostName(),
      { cause, hint: 'The next operation reconnects; check the file before retrying.' },
    );
  }

  private hostName(): string {
    return this.route?.target.hostname ?? this.target.host;
  }

  private closedError(): SshError {
    return new SshError(`The SSH transport to ${this.label} is closed.`, this.hostName());
  }
}

function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new InvalidInputError(`Invalid file mode ${String(mode)}: expected e.g. 0o600.`);
  }
}
