/**
 * The shapes callers hand to the SSH transport: where to connect (`SshTarget`, usually from the
 * cluster config), who answers interactive questions (`SshPrompter`, the agent's prompt events)
 * and the knobs that tests and embedders may turn (`SshTransportOptions`).
 */

/** Where to connect. Every field set here overrides what ~/.ssh/config says for the host. */
export interface SshTarget {
  /** A host name, address or a Host alias from ~/.ssh/config. */
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  readonly identityFile?: string;
  /** Comma-separated `[user@]host[:port]` hops, as OpenSSH's ProxyJump; "none" for no jump. */
  readonly proxyJump?: string;
  /** The user's known_hosts file, read and appended to; default from ssh config or ~/.ssh. */
  readonly knownHostsFile?: string;
  /** Default ~/.ssh/config; null to read no user config at all. */
  readonly configFile?: string | null;
  /** SSH-level keepalive interval; 0 turns keepalives off. Default ServerAliveInterval or 30. */
  readonly keepaliveSeconds?: number;
  /** Limit for TCP connect plus handshake (time spent in prompts excluded). Default 20 s. */
  readonly connectTimeoutMs?: number;
}

export interface HostKeyPrompt {
  readonly host: string;
  readonly port: number;
  readonly keyType: string;
  /** `SHA256:...` as OpenSSH prints it. */
  readonly fingerprint: string;
}

export interface KeyboardInteractivePrompt {
  readonly host: string;
  readonly user: string;
  readonly name: string;
  readonly instructions: string;
  readonly prompts: readonly { readonly prompt: string; readonly echo: boolean }[];
}

/**
 * Asks the user. An `undefined` answer (or false for host keys) means the user declined. The
 * signal fires when the transport gives up waiting (it was closed).
 */
export interface SshPrompter {
  password(
    req: { readonly host: string; readonly user: string },
    signal?: AbortSignal,
  ): Promise<string | undefined>;
  keyboardInteractive(
    req: KeyboardInteractivePrompt,
    signal?: AbortSignal,
  ): Promise<string[] | undefined>;
  passphrase(
    req: { readonly host: string; readonly keyFile: string },
    signal?: AbortSignal,
  ): Promise<string | undefined>;
  unknownHostKey(req: HostKeyPrompt, signal?: AbortSignal): Promise<boolean>;
}

export interface SshTransportOptions {
  /** Who answers prompts; without one, anything needing an answer fails (keys and agent only). */
  readonly prompter?: SshPrompter;
  /** Concurrent exec/SFTP session channels; OpenSSH allows 10 per connection. Default 8. */
  readonly maxSessions?: number;
  /** ssh-agent socket; default SSH_AUTH_SOCK; null for none. */
  readonly agentSocket?: string | null;
  /** Home directory for `~` and default key/known_hosts paths; default os.homedir(). */
  readonly homeDir?: string;
  /** System-wide ssh config read after the user's; default /etc/ssh/ssh_config; null for none. */
  readonly systemConfigFile?: string | null;
  /** Read-only known_hosts files; default from ssh config, else /etc/ssh/ssh_known_hosts(2). */
  readonly globalKnownHostsFiles?: readonly string[];
  /** ssh2's debug output, for troubleshooting only. */
  readonly debug?: (message: string) => void;
}
