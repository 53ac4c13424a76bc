/**
 * What every CLI command gets: where to print and an AbortSignal that fires on Ctrl-C; commands
 * that work on clusters themselves (not through the agent) also get the loaded configuration and
 * the open clusters.
 */
import type { LoadedConfig } from '../config/types.js';
import type { ClusterConnections } from '../clusters/connections.js';

export interface CliContext {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  readonly signal: AbortSignal;
  readonly isTerminal: boolean;
}

export interface ClusterCliContext extends CliContext {
  readonly config: LoadedConfig;
  readonly clusters: ClusterConnections;
}

export function createContext(signal: AbortSignal): CliContext {
  return {
    out: process.stdout,
    err: process.stderr,
    signal,
    isTerminal: process.stdout.isTTY,
  };
}

/**
 * Loads the configuration and opens the clusters for a command that needs them. Loaded here,
 * not for every command: the schema compile and the SSH library are most of a session
 * command's start-up, and session commands ask the agent instead.
 */
export async function withClusters(ctx: CliContext): Promise<ClusterCliContext> {
  const [{ loadConfig }, { ClusterConnections }, { TerminalPrompter }] = await Promise.all([
    import('../config/load.js'),
    import('../clusters/connections.js'),
    import('./terminal-prompter.js'),
  ]);
  const config = await loadConfig();
  return {
    ...ctx,
    config,
    clusters: new ClusterConnections(config, { prompter: new TerminalPrompter() }),
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
