/**
 * What every CLI command gets: the loaded configuration, the open clusters, where to print, and
 * an AbortSignal that fires on Ctrl-C.
 */
import { loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/types.js';
import { ClusterConnections } from '../clusters/connections.js';
import { TerminalPrompter } from './terminal-prompter.js';

export interface CliContext {
  readonly config: LoadedConfig;
  readonly clusters: ClusterConnections;
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  readonly signal: AbortSignal;
  readonly isTerminal: boolean;
}

export async function createContext(signal: AbortSignal): Promise<CliContext> {
  const config = await loadConfig();
  return {
    config,
    clusters: new ClusterConnections(config, { prompter: new TerminalPrompter() }),
    out: process.stdout,
    err: process.stderr,
    signal,
    isTerminal: process.stdout.isTTY,
  };
}

/** Prints rows as aligned columns; the first row is the header. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      // Code points, not UTF-16 units: unicode job names line up on a terminal.
      widths[i] = Math.max(widths[i] ?? 0, Array.from(cell).length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1
            ? cell
            : cell + ' '.repeat((widths[i] ?? 0) - Array.from(cell).length),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
