/**
 * The agent's log: one line per event in a 0600 file under the state directory (the agent runs
 * detached, so this is where its story is told). Callers never pass secrets (answers, tokens,
 * keys); as a second line of defence, anything that looks like `token=...` is masked.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HpcError } from '../errors.js';

export interface AgentLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string, error?: unknown): void;
  close(): Promise<void>;
}

export const silentLog: AgentLog = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  close: () => Promise.resolve(),
};

const SECRET_PATTERN = /\b(token|password|passphrase|secret|key)=([^\s&]+)/gi;

export function maskSecrets(text: string): string {
  return text.replace(SECRET_PATTERN, '$1=***');
}

export function describeError(error: unknown): string {
  if (error instanceof HpcError) return `${error.name}: ${error.describe()}`;
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Opens (appending) the log file with mode 0600, creating its directory 0700. */
export async function openAgentLog(file: string): Promise<AgentLog> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => {
      resolve();
    });
    stream.once('error', reject);
  });
  // A file made by an older version (or by hand) keeps its mode on append: tighten it.
  await chmod(file, 0o600);
  return new FileLog(stream);
}

class FileLog implements AgentLog {
  constructor(private readonly stream: WriteStream) {
    // A full disk must not take the agent down; lines are simply lost.
    stream.on('error', () => undefined);
  }

  info(message: string): void {
    this.write('info', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string, error?: unknown): void {
    this.write('error', error === undefined ? message : `${message}: ${describeError(error)}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.stream.end(resolve);
    });
  }

  private write(level: string, message: string): void {
    if (this.stream.writableEnded) return;
    this.stream.write(`${new Date().toISOString()} ${level} ${maskSecrets(message)}\n`);
  }
}
