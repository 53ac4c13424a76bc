/**
 * Replays recorded scheduler output for the adapters' unit tests. A capture `NAME` in
 * `test/fixtures/<tool>-<version>/` is `NAME.stdout`, `NAME.stderr` and `NAME.code`; a code of
 * `timeout` replays as the TimeoutError the transport raises when a command outlives its limit.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { TimeoutError } from '../errors.js';
import type { CommandRunner, RunOptions, RunResult, WriteFileOptions } from '../transport/types.js';

const ROOT = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

export type Reply = RunResult | Error;

export function capture(dir: string, name: string): Reply {
  const read = (ext: string): string => readFileSync(`${ROOT}${dir}/${name}.${ext}`, 'utf8');
  const code = read('code').trim();
  if (code === 'timeout') return new TimeoutError(`${name} did not finish within 30 s`);
  return { code: Number(code), stdout: read('stdout'), stderr: read('stderr') };
}

/** The command of an argv, past an `env VAR=...` prefix. */
export function commandOf(argv: readonly string[]): string {
  let i = 0;
  if (argv[0] === 'env') {
    i = 1;
    while (argv[i]?.includes('=') === true) i += 1;
  }
  return argv[i] ?? '';
}

/** Answers by command name (`qstat -Q` style keys win over the bare name) and records calls. */
export class FixtureRunner implements CommandRunner {
  readonly calls: { argv: readonly string[]; options: RunOptions }[] = [];
  readonly written: { path: string; data: string; mode: number }[] = [];

  constructor(private readonly replies: Record<string, Reply>) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv, options });
    const command = commandOf(argv);
    const at = argv.indexOf(command);
    const flag = argv[at + 1];
    const reply =
      (flag === undefined ? undefined : this.replies[`${command} ${flag}`]) ??
      this.replies[command];
    if (reply === undefined)
      return Promise.reject(new Error(`unexpected command ${argv.join(' ')}`));
    if (reply instanceof Error) return Promise.reject(reply);
    return Promise.resolve(reply);
  }

  writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    options: WriteFileOptions,
  ): Promise<void> {
    this.written.push({
      path,
      data: typeof data === 'string' ? data : Buffer.from(data).toString(),
      mode: options.mode,
    });
    return Promise.resolve();
  }

  commands(): string[] {
    return this.calls.map((c) => commandOf(c.argv));
  }
}

export const ok = (stdout: string): RunResult => ({ code: 0, stdout, stderr: '' });
