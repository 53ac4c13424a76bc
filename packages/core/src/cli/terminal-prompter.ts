/**
 * Answers SSH prompts on a terminal: passwords and passphrases without echo, MFA codes, and the
 * unknown-host-key question in OpenSSH's words. Without a terminal every prompt is declined, so a
 * script fails with a clear error instead of hanging.
 */
import { createInterface } from 'node:readline';
import type {
  HostKeyPrompt,
  KeyboardInteractivePrompt,
  SshPrompter,
} from '../transport/ssh-options.js';

export class TerminalPrompter implements SshPrompter {
  constructor(
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WriteStream = process.stderr,
  ) {}

  private get interactive(): boolean {
    return this.input.isTTY && this.output.isTTY;
  }

  async password(
    req: { host: string; user: string },
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    return this.ask(`${req.user}@${req.host}'s password: `, false, signal);
  }

  async passphrase(
    req: { host: string; keyFile: string },
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    return this.ask(`Enter passphrase for key '${req.keyFile}': `, false, signal);
  }

  async keyboardInteractive(
    req: KeyboardInteractivePrompt,
    signal?: AbortSignal,
  ): Promise<string[] | undefined> {
    if (!this.interactive) return undefined;
    const header = [req.name, req.instructions].filter((s) => s.length > 0).join('\n');
    if (header.length > 0) this.output.write(`${header}\n`);
    const answers: string[] = [];
    for (const prompt of req.prompts) {
      const answer = await this.ask(prompt.prompt, prompt.echo, signal);
      if (answer === undefined) return undefined;
      answers.push(answer);
    }
    return answers;
  }

  async unknownHostKey(req: HostKeyPrompt, signal?: AbortSignal): Promise<boolean> {
    const where = req.port === 22 ? req.host : `[${req.host}]:${req.port}`;
    const answer = await this.ask(
      `The authenticity of host '${where}' can't be established.\n` +
        `${req.keyType} key fingerprint is ${req.fingerprint}.\n` +
        'Compare it with the one your centre publishes. Trust this host (yes/no)? ',
      true,
      signal,
    );
    return answer?.trim().toLowerCase() === 'yes';
  }

  /** Asks for a secret without echo; undefined when there is no terminal or the user gave up. */
  askSecret(question: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.ask(question, false, signal);
  }

  /** A yes/no question; only "yes" counts as yes. */
  async confirm(question: string, signal?: AbortSignal): Promise<boolean> {
    const answer = await this.ask(question, true, signal);
    return answer?.trim().toLowerCase() === 'yes';
  }

  private async ask(
    question: string,
    echo: boolean,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (!this.interactive) return undefined;
    const rl = createInterface({ input: this.input, output: this.output, terminal: true });
    if (!echo) {
      // Mute what readline echoes after the question; the question itself is already written.
      const writable = rl as unknown as { _writeToOutput: (s: string) => void };
      let questionShown = false;
      writable._writeToOutput = (s: string): void => {
        if (!questionShown) {
          this.output.write(s);
          questionShown = true;
        }
      };
    }
    try {
      return await new Promise<string | undefined>((resolve) => {
        const onAbort = (): void => {
          resolve(undefined);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        rl.question(question, (answer) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
        });
        rl.on('close', () => {
          resolve(undefined);
        });
      });
    } finally {
      if (!echo) this.output.write('\n');
      rl.close();
    }
  }
}
