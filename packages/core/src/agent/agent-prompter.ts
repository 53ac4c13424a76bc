/**
 * SSH questions (passwords, MFA codes, key passphrases, unknown host keys) as prompt events for
 * whichever front ends are attached. The first valid answer from any client wins; a question
 * nobody answers is declined after a timeout, so a connection never waits forever. Owns the open
 * prompts and their timers; `close()` declines them all. Answers are never logged or stored.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import type { AgentEvent, PromptEvent } from '../sessions/types.js';
import type {
  HostKeyPrompt,
  KeyboardInteractivePrompt,
  SshPrompter,
} from '../transport/ssh-options.js';
import type { PromptAnswer, PromptReply } from './api-types.js';

export const PROMPT_TIMEOUT_MS = 5 * 60_000;

/** How many settled prompt ids are remembered, to tell "too late" (409) from "never was" (404). */
const SETTLED_MEMORY = 256;

export interface AgentPrompterOptions {
  /** How long a question waits for an answer before it is declined. Default 5 minutes. */
  readonly timeoutMs?: number;
  /**
   * Names the cluster a question is about when only the host is known (the shared `prompter`).
   * Default: the host itself.
   */
  readonly clusterForHost?: (host: string) => string;
}

interface OpenPrompt {
  readonly event: PromptEvent;
  /** Validates and applies an answer; undefined declines. Throws InvalidInputError. */
  readonly settle: (answer: PromptAnswer | undefined) => void;
}

type Question = Omit<PromptEvent, 'id' | 'createdAt'>;

export class AgentPrompter {
  /** For ClusterConnections: names each question's cluster with `clusterForHost`. */
  readonly prompter: SshPrompter;
  private readonly open = new Map<string, OpenPrompt>();
  private readonly settled: string[] = [];
  private readonly listeners = new Set<(event: AgentEvent) => void>();
  private readonly timeoutMs: number;
  private closed = false;

  constructor(options: AgentPrompterOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? PROMPT_TIMEOUT_MS;
    this.prompter = this.makePrompter((host) => options.clusterForHost?.(host) ?? host);
  }

  /** A prompter whose questions all name `cluster`. */
  forCluster(cluster: string): SshPrompter {
    return this.makePrompter(() => cluster);
  }

  onEvent(listener: (event: AgentEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): PromptEvent[] {
    return [...this.open.values()].map((p) => p.event);
  }

  /** Applies the first answer; later ones get ConflictError, unknown ids NotFoundError. */
  answer(id: string, reply: PromptReply): void {
    const prompt = this.open.get(id);
    if (prompt === undefined) {
      if (this.settled.includes(id)) {
        throw new ConflictError(`Prompt ${id} has already been answered.`, {
          hint: 'Another window answered it first, or it timed out.',
        });
      }
      throw new NotFoundError(`No prompt ${id}.`);
    }
    prompt.settle('decline' in reply ? undefined : reply.answer);
  }

  /** Declines every open question; later questions are declined at once. */
  close(): void {
    this.closed = true;
    for (const prompt of [...this.open.values()]) prompt.settle(undefined);
  }

  private makePrompter(clusterOf: (host: string) => string): SshPrompter {
    return {
      password: (req, signal) =>
        this.ask(
          {
            cluster: clusterOf(req.host),
            kind: 'password',
            message: `${req.user}@${req.host}'s password:`,
          },
          asText,
          signal,
        ),
      passphrase: (req, signal) =>
        this.ask(
          {
            cluster: clusterOf(req.host),
            kind: 'passphrase',
            message: `Enter passphrase for key '${req.keyFile}':`,
          },
          asText,
          signal,
        ),
      keyboardInteractive: (req, signal) => this.keyboard(req, clusterOf(req.host), signal),
      unknownHostKey: async (req, signal) =>
        (await this.ask(hostKeyQuestion(req, clusterOf(req.host)), asTrust, signal)) ?? false,
    };
  }

  private async keyboard(
    req: KeyboardInteractivePrompt,
    cluster: string,
    signal?: AbortSignal,
  ): Promise<string[] | undefined> {
    // A round without questions only carries instructions; the protocol wants an empty reply.
    if (req.prompts.length === 0) return [];
    const header = [req.name, req.instructions].filter((s) => s.trim() !== '').join('\n');
    return this.ask(
      {
        cluster,
        kind: 'keyboard-interactive',
        message: header === '' ? `Verification for ${req.user}@${req.host}` : header,
        prompts: req.prompts.map((p) => ({ prompt: p.prompt, echo: p.echo })),
      },
      (answer) => asAnswers(answer, req.prompts.length),
      signal,
    );
  }

  /** Announces a question and resolves with its converted answer, or undefined if declined. */
  private ask<T>(
    question: Question,
    convert: (answer: PromptAnswer) => T,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    if (this.closed || signal?.aborted === true) return Promise.resolve(undefined);
    const event: PromptEvent = {
      ...question,
      id: `p${randomBytes(6).toString('hex')}`,
      createdAt: new Date().toISOString(),
    };
    return new Promise<T | undefined>((resolve) => {
      const finish = (value: T | undefined): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.open.delete(event.id);
        this.settled.push(event.id);
        if (this.settled.length > SETTLED_MEMORY) this.settled.shift();
        resolve(value);
        this.emit({ type: 'prompt-answered', id: event.id });
      };
      const onAbort = (): void => {
        finish(undefined);
      };
      const timer = setTimeout(onAbort, this.timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.open.set(event.id, {
        event,
        // Conversion runs before anything settles, so a malformed answer leaves the prompt open.
        settle: (answer) => {
          finish(answer === undefined ? undefined : convert(answer));
        },
      });
      this.emit({ type: 'prompt', prompt: event });
    });
  }

  private emit(event: AgentEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}

function hostKeyQuestion(req: HostKeyPrompt, cluster: string): Question {
  const where = req.port === 22 ? req.host : `[${req.host}]:${req.port}`;
  return {
    cluster,
    kind: 'host-key',
    message:
      `The authenticity of host '${where}' can't be established. ` +
      `${req.keyType} key fingerprint is ${req.fingerprint}. ` +
      'Compare it with the one your centre publishes. Trust this host and add it to known_hosts?',
    fingerprint: req.fingerprint,
  };
}

function asText(answer: PromptAnswer): string {
  if (typeof answer !== 'string') {
    throw new InvalidInputError('This prompt needs a text answer.');
  }
  return answer;
}

function asTrust(answer: PromptAnswer): boolean {
  if (typeof answer !== 'boolean') {
    throw new InvalidInputError('A host-key prompt needs true (trust) or false (refuse).');
  }
  return answer;
}

function asAnswers(answer: PromptAnswer, count: number): string[] {
  // One question answered with plain text is common enough (an MFA code) to accept.
  if (typeof answer === 'string' && count === 1) return [answer];
  if (!Array.isArray(answer) || answer.length !== count || !answer.every(isString)) {
    throw new InvalidInputError(`This prompt needs a list of ${count} text answer(s).`);
  }
  return [...answer];
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
