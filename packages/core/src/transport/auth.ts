/**
 * The login conversation for one SSH connection, as an ssh2 `authHandler`: `none` (to learn the
 * server's methods), ssh-agent keys, key files (asking for passphrases), keyboard-interactive
 * (where MFA codes reach the user) and password, skipping whatever the server does not accept.
 * When everything fails it builds an AuthenticationError that says what was tried and what to do.
 */

import type { AnyAuthMethod, AuthenticationType, AuthHandlerMiddleware, Prompt } from 'ssh2';

import { AbortedError, AuthenticationError } from '../errors.js';
import { CountingAgent, keyFilesToTry, loadKey, publicBlobOf } from './auth-keys.js';
import type { ResolvedHost } from './ssh-config.js';
import type { SshPrompter } from './ssh-options.js';

/** Attempts per interactive method: a mistyped code or password gets another chance. */
const INTERACTIVE_ATTEMPTS = 3;

export interface AuthContext {
  readonly host: ResolvedHost;
  readonly homeDir: string;
  readonly prompter: SshPrompter | undefined;
  readonly agentSocket: string | undefined;
  readonly signal: AbortSignal;
  /** Called around every prompt so the connect timeout does not count the user's thinking. */
  readonly promptStarted: () => void;
  readonly promptEnded: () => void;
}

/** A method to try and how to name it in the final message (evaluated then: agent key counts). */
interface Attempt {
  readonly method: AnyAuthMethod;
  readonly label: () => string;
}
type Step = () => Promise<Attempt | undefined>;

/** ssh2 accepts `false` from an authHandler to mean "no more methods"; its types do not say so. */
const NO_MORE_METHODS = false as unknown as AuthenticationType;

function serverName(type: AnyAuthMethod['type']): AuthenticationType {
  return type === 'agent' ? 'publickey' : type;
}

export class LoginConversation {
  private readonly steps: Step[] = [];
  private readonly tried: (() => string)[] = [];
  private readonly notes: string[] = [];
  private serverMethods: AuthenticationType[] | undefined;
  private agent: CountingAgent | undefined;
  private last: (() => string) | undefined;
  private abortedWith: unknown;

  constructor(private readonly ctx: AuthContext) {
    const user = ctx.host.user;
    this.steps.push(() =>
      Promise.resolve({ method: { type: 'none', username: user }, label: () => 'none' }),
    );
    if (ctx.agentSocket !== undefined && ctx.agentSocket !== '') {
      this.steps.push(() => this.agentStep());
    }
    this.steps.push(() => this.keyFileSteps());
    if (ctx.prompter !== undefined) {
      for (let i = 0; i < INTERACTIVE_ATTEMPTS; i++) this.steps.push(() => this.keyboardStep());
      for (let i = 0; i < INTERACTIVE_ATTEMPTS; i++) this.steps.push(() => this.passwordStep());
    }
  }

  /** The ssh2 authHandler; ssh2 calls it again after every failure. */
  readonly handler: AuthHandlerMiddleware = (methodsLeft, partialSuccess, next) => {
    if (Array.isArray(methodsLeft)) this.serverMethods = methodsLeft;
    const last = this.last;
    if (partialSuccess && last !== undefined) {
      this.tried[this.tried.length - 1] = () => `${last()} (accepted, but more is required)`;
    }
    this.nextMethod().then(
      (method) => {
        next(method ?? NO_MORE_METHODS);
      },
      (err: unknown) => {
        this.abortedWith = err;
        next(NO_MORE_METHODS);
      },
    );
  };

  private async nextMethod(): Promise<AnyAuthMethod | undefined> {
    for (;;) {
      const step = this.steps.shift();
      if (step === undefined) return undefined;
      const attempt = await step();
      if (this.ctx.signal.aborted) {
        throw new AbortedError(undefined, { cause: this.ctx.signal.reason });
      }
      if (attempt === undefined || !this.allows(serverName(attempt.method.type))) continue;
      if (attempt.method.type !== 'none') {
        this.last = attempt.label;
        this.tried.push(attempt.label);
      }
      return attempt.method;
    }
  }

  private allows(type: AuthenticationType): boolean {
    return this.serverMethods === undefined || this.serverMethods.includes(type);
  }

  private async agentStep(): Promise<Attempt | undefined> {
    const socket = this.ctx.agentSocket;
    if (socket === undefined || !this.allows('publickey')) return undefined;
    let only: Buffer[] | undefined;
    if (this.ctx.host.identitiesOnly) {
      const blobs = await Promise.all(this.ctx.host.identityFiles.map(publicBlobOf));
      only = blobs.filter((b): b is Buffer => b !== undefined);
    }
    const agent = new CountingAgent(socket, only);
    this.agent = agent;
    return {
      method: { type: 'agent', username: this.ctx.host.user, agent },
      label: () => `publickey via ssh-agent (${agent.offered.length} keys)`,
    };
  }

  /** Expands into one step per key file, loaded lazily so passphrases are asked only if needed. */
  private async keyFileSteps(): Promise<Attempt | undefined> {
    if (!this.allows('publickey')) return undefined;
    const { host, homeDir } = this.ctx;
    const files = await keyFilesToTry(host.identityFiles, host.defaultIdentities, homeDir);
    this.steps.unshift(...files.map((file) => () => this.keyFileStep(file)));
    return undefined;
  }

  private async keyFileStep(file: string): Promise<Attempt | undefined> {
    if (!this.allows('publickey')) return undefined;
    const offered = this.agent?.offered ?? [];
    if (offered.length > 0) {
      const blob = await publicBlobOf(file);
      // The agent already offered this key: asking for its passphrase again would be pointless.
      if (blob !== undefined && offered.some((b) => b.equals(blob))) return undefined;
    }
    let loaded;
    try {
      loaded = await this.prompting(() =>
        loadKey(file, {
          host: this.ctx.host.hostname,
          prompter: this.ctx.prompter,
          signal: this.ctx.signal,
        }),
      );
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      this.notes.push(`${file}: passphrase prompt failed (${errorText(err)})`);
      return undefined;
    }
    if (loaded.kind === 'skipped') {
      this.notes.push(`${file}: ${loaded.reason}`);
      return undefined;
    }
    return {
      method: { type: 'publickey', username: this.ctx.host.user, key: loaded.key },
      label: () => `publickey ${file}`,
    };
  }

  private keyboardDeclined = false;
  private passwordDeclined = false;

  private keyboardStep(): Promise<Attempt | undefined> {
    const prompter = this.ctx.prompter;
    if (prompter === undefined || this.keyboardDeclined || !this.allows('keyboard-interactive')) {
      return Promise.resolve(undefined);
    }
    const { hostname, user } = this.ctx.host;
    const prompt = (
      name: string,
      instructions: string,
      _lang: string,
      prompts: Prompt[],
      finish: (answers: string[]) => void,
    ): void => {
      const req = {
        host: hostname,
        user,
        name,
        instructions,
        prompts: prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true })),
      };
      this.prompting(() => prompter.keyboardInteractive(req, this.ctx.signal)).then(
        (answers) => {
          if (answers === undefined) this.declined('keyboard-interactive');
          finish(answers ?? []);
        },
        (err: unknown) => {
          this.declined('keyboard-interactive', err);
          finish([]);
        },
      );
    };
    return Promise.resolve({
      method: { type: 'keyboard-interactive', username: user, prompt },
      label: () => 'keyboard-interactive',
    });
  }

  private async passwordStep(): Promise<Attempt | undefined> {
    const prompter = this.ctx.prompter;
    if (prompter === undefined || this.passwordDeclined || !this.allows('password')) {
      return undefined;
    }
    const { hostname, user } = this.ctx.host;
    let password: string | undefined;
    try {
      password = await this.prompting(() =>
        prompter.password({ host: hostname, user }, this.ctx.signal),
      );
    } catch (err) {
      this.declined('password', err);
      return undefined;
    }
    if (password === undefined) {
      this.declined('password');
      return undefined;
    }
    return { method: { type: 'password', username: user, password }, label: () => 'password' };
  }

  private declined(method: 'keyboard-interactive' | 'password', err?: unknown): void {
    if (method === 'password') this.passwordDeclined = true;
    else this.keyboardDeclined = true;
    const why = err === undefined ? 'declined' : `prompt failed (${errorText(err)})`;
    if (!this.notes.includes(`${method}: ${why}`)) this.notes.push(`${method}: ${why}`);
  }

  private async prompting<T>(fn: () => Promise<T>): Promise<T> {
    this.ctx.promptStarted();
    try {
      return await fn();
    } finally {
      this.ctx.promptEnded();
    }
  }

  /** The error to report once ssh2 says every method failed. */
  failure(cause?: unknown): AuthenticationError | AbortedError {
    if (this.abortedWith instanceof AbortedError) return this.abortedWith;
    const { user, hostname, port } = this.ctx.host;
    const where = `${user}@${hostname}:${port}`;
    const tried =
      this.tried.length > 0 ? collapse(this.tried.map((t) => t())) : 'nothing the server accepts';
    const server =
      this.serverMethods === undefined
        ? ''
        : ` The server accepts: ${this.serverMethods.join(', ')}.`;
    const notes = this.notes.length > 0 ? ` Skipped: ${this.notes.join('; ')}.` : '';
    return new AuthenticationError(
      `SSH login to ${where} was refused (tried: ${tried}).${server}${notes}`,
      hostname,
      {
        cause: this.abortedWith ?? cause,
        hint:
          `Add your public key to ~/.ssh/authorized_keys for ${user} on ${hostname} (for example ` +
          'with ssh-copy-id), or check User and IdentityFile for this host in ~/.ssh/config; ' +
          `test with \`ssh ${port === 22 ? '' : `-p ${port} `}${user}@${hostname}\`.`,
      },
    );
  }
}

/** "a, b, b, b" -> "a, b (3 times)": retries of one method read better counted. */
function collapse(items: readonly string[]): string {
  const out: { item: string; count: number }[] = [];
  for (const item of items) {
    const last = out.at(-1);
    if (last?.item === item) last.count++;
    else out.push({ item, count: 1 });
  }
  return out.map((o) => (o.count > 1 ? `${o.item} (${o.count} times)` : o.item)).join(', ');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
