/**
 * Typed errors for every layer of the core. Each carries the context a front end needs to show a
 * useful message (what ran, where, what came back) and a `hint` that says what to do next.
 */

export interface HpcErrorOptions {
  readonly cause?: unknown;
  /** What the user can do about it, in one sentence. */
  readonly hint?: string;
}

export class HpcError extends Error {
  override readonly name: string = 'HpcError';
  readonly hint: string | undefined;

  constructor(message: string, options: HpcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }

  /** The message followed by the hint, for terminals and dialogs. */
  describe(): string {
    return this.hint === undefined ? this.message : `${this.message}\n${this.hint}`;
  }
}

/** Input that failed validation before anything ran (a config value, a job parameter). */
export class InvalidInputError extends HpcError {
  override readonly name = 'InvalidInputError';
}

/** A configuration file that could not be read, parsed or validated. */
export class ConfigError extends HpcError {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | undefined,
    readonly keyPath: string | undefined,
    options: HpcErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A command that ran and failed, or could not be started. */
export class CommandError extends HpcError {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
    options: HpcErrorOptions & { readonly cluster?: string } = {},
  ) {
    super(message, options);
    this.cluster = options.cluster;
  }
  readonly cluster: string | undefined;
}

/** A command or connection that did not finish in time. */
export class TimeoutError extends HpcError {
  override readonly name = 'TimeoutError';
}

/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends HpcError {
  override readonly name = 'AbortedError';
  constructor(message = 'The operation was cancelled.', options: HpcErrorOptions = {}) {
    super(message, options);
  }
}

/** Errors of the SSH transport: connection, authentication and host keys. */
export class SshError extends HpcError {
  override readonly name: string = 'SshError';
  constructor(
    message: string,
    readonly host: string,
    options: HpcErrorOptions = {},
  ) {
    super(message, options);
  }
}

export class HostKeyUnknownError extends SshError {
  override readonly name = 'HostKeyUnknownError';
}

export class HostKeyChangedError extends SshError {
  override readonly name = 'HostKeyChangedError';
}

export class AuthenticationError extends SshError {
  override readonly name = 'AuthenticationError';
}

/** A batch system that could not be asked, or answered something we cannot read. */
export class SchedulerError extends HpcError {
  override readonly name = 'SchedulerError';
  constructor(
    message: string,
    readonly scheduler: string,
    options: HpcErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** Throws AbortedError when the signal has fired; call at the top of every async step. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new AbortedError(undefined, { cause: signal.reason });
  }
}

/** A host key that a known_hosts file marks `@revoked`: never accepted, whatever else is known. */
export class HostKeyRevokedError extends SshError {
  override readonly name = 'HostKeyRevokedError';
}

/**
 * The SSH connection dropped while an operation was using it. The operation may or may not have
 * taken effect on the cluster; it is never re-run silently because commands need not be idempotent.
 */
export class ConnectionLostError extends SshError {
  override readonly name: string = 'ConnectionLostError';
}

/** A session, prompt, template or route asked for by id or name that does not exist. */
export class NotFoundError extends HpcError {
  override readonly name = 'NotFoundError';
}

/** A request that the current state forbids: a prompt already answered, an agent already running. */
export class ConflictError extends HpcError {
  override readonly name = 'ConflictError';
}

/**
 * The per-user agent could not be reached, or answered a request with an error. `status` is the
 * HTTP status (undefined when no answer came) and `kind` the name of the error class it raised.
 */
export class AgentError extends HpcError {
  override readonly name = 'AgentError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly kind: string | undefined,
    options: HpcErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** One parameter that failed validation, and why, in words that say what is allowed. */
export interface ParameterProblem {
  readonly param: string;
  readonly message: string;
}

/**
 * Job parameters that failed validation: every bad field at once, so a form can mark them all
 * and a CLI user fixes them in one go. Its `name` stays 'InvalidInputError' (the base class fixes
 * that type), so match it with `instanceof`.
 */
export class InvalidParametersError extends InvalidInputError {
  constructor(
    readonly template: string,
    readonly problems: readonly ParameterProblem[],
    options: HpcErrorOptions = {},
  ) {
    super(
      `Invalid parameters for template '${template}':\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
      options,
    );
  }
}

/** Something a session cannot do in its state, or a session that ended badly. */
export class SessionError extends HpcError {
  override readonly name: string = 'SessionError';
  /** The last lines of the job's log, when the session has ended. */
  readonly logTail: string | undefined;
  constructor(
    message: string,
    readonly sessionId: string,
    /** The session's state when this was thrown (a session state name), if it exists. */
    readonly state: string | undefined,
    options: HpcErrorOptions & { readonly logTail?: string } = {},
  ) {
    super(message, options);
    this.logTail = options.logTail;
  }
}

/** No session with this id in the store: never created here, or removed. */
export class SessionNotFoundError extends SessionError {
  override readonly name = 'SessionNotFoundError';
  constructor(sessionId: string, options: HpcErrorOptions = {}) {
    super(`No session with id "${sessionId}".`, sessionId, undefined, {
      hint: 'List sessions to see the ids that exist.',
      ...options,
    });
  }
}

/** A session reached a final state before what was waited for happened. */
export class SessionEndedError extends SessionError {
  override readonly name = 'SessionEndedError';
}

/** A file of the local session store that could not be loaded; it is skipped, never fatal. */
export class SessionFileError extends HpcError {
  override readonly name = 'SessionFileError';
  constructor(
    message: string,
    readonly file: string,
    options: HpcErrorOptions = {},
  ) {
    super(message, {
      hint: 'The file was skipped; move it away or delete it once you no longer need it.',
      ...options,
    });
  }
}

/** Something that exists but cannot serve yet: a session whose job has not started its server. */
export class NotReadyError extends HpcError {
  override readonly name = 'NotReadyError';
}
