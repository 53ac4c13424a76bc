/**
 * The one seam through which every command and file reaches a cluster. Scheduler adapters and
 * sessions see only these interfaces; `local.ts` and `ssh.ts` are the only files that know about
 * child_process or ssh2.
 */

export interface RunOptions {
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string | Uint8Array;
  readonly signal?: AbortSignal;
  /** Milliseconds; the command is killed (or its channel closed) when it runs longer. */
  readonly timeout?: number;
  /** Extra environment for the command, by name. Never carries secrets on SSH: use files. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunResult {
  /** Exit status; null when the command was ended by a signal or its exit is unknown. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one command given as an argv array. Never a shell string: transports that must pass
 * through a shell (SSH) quote every element so no value can inject.
 */
export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

export interface FileOptions {
  readonly signal?: AbortSignal;
}

export interface WriteFileOptions extends FileOptions {
  /** Permission bits of the file, e.g. 0o600. Always explicit. */
  readonly mode: number;
}

/** A loopback listener whose connections are carried to a host:port on the cluster side. */
export interface PortForward {
  readonly localHost: string;
  readonly localPort: number;
  readonly remoteHost: string;
  readonly remotePort: number;
  close(): Promise<void>;
}

export interface ForwardOptions {
  /** Local port to listen on; 0 or absent picks a free one. */
  readonly localPort?: number;
  readonly signal?: AbortSignal;
  /**
   * The far end speaks TLS and wants our client certificate (a job's relay): each forwarded
   * connection is wrapped in mutual TLS there, and stays plain on the local side.
   */
  readonly tls?: ForwardTls;
}

/**
 * Mutual TLS to a service in a job: the session's CA, certificate and key (PEM), which the agent
 * read from the session directory and holds in memory only, and the name the service's
 * certificate must carry (its node's name; the connection itself goes to an address).
 */
export interface ForwardTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly serverName: string;
}

/** Files on the cluster side of a transport. Paths are absolute on that side. */
export interface FileTransport {
  readFile(path: string, options?: FileOptions): Promise<Buffer>;
  /** Writes to a temporary file beside `path` with `mode`, then renames it over `path`. */
  writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    options: WriteFileOptions,
  ): Promise<void>;
  /** Creates the directory and missing parents; the last component gets `mode`. */
  mkdir(path: string, options: WriteFileOptions): Promise<void>;
  /** True when the path exists. */
  exists(path: string, options?: FileOptions): Promise<boolean>;
  /** Removes a file; a missing file is not an error. */
  remove(path: string, options?: FileOptions): Promise<void>;
}

export interface Transport extends CommandRunner, FileTransport {
  readonly kind: 'local' | 'ssh';
  /** A short label for messages: "local" or "user@host". */
  readonly label: string;
  forward(remoteHost: string, remotePort: number, options?: ForwardOptions): Promise<PortForward>;
  /** Closes connections, listeners and channels this transport owns. */
  close(): Promise<void>;
}
