/**
 * A Transport that counts what passes through it, by program for commands (`squeue`, `sacct`,
 * `sbatch`, `tail`...) and by operation for files and forwards, and otherwise hands everything to
 * the transport it wraps. The scheduler-load benchmark gives it to both the Slurm adapter and the
 * session manager, so every command the session layer causes on the cluster is seen.
 */
import { programOf } from '../../test/e2e/support.js';
import type {
  FileOptions,
  ForwardOptions,
  PortForward,
  RunOptions,
  RunResult,
  Transport,
  WriteFileOptions,
} from '../../packages/core/src/transport/types.js';

/** Programs that talk to the batch system's controller or accounting daemon. */
export const SCHEDULER_PROGRAMS: ReadonlySet<string> = new Set([
  'squeue',
  'sacct',
  'sbatch',
  'scancel',
  'sinfo',
  'sacctmgr',
  'scontrol',
]);

export class CountingTransport implements Transport {
  private counts = new Map<string, number>();

  constructor(private readonly inner: Transport) {}

  get kind(): Transport['kind'] {
    return this.inner.kind;
  }

  get label(): string {
    return this.inner.label;
  }

  /** Forgets every count: the start of a measuring window. */
  reset(): void {
    this.counts = new Map();
  }

  /** Counts so far, by program or `sftp <op>` / `forward`. */
  snapshot(): Readonly<Record<string, number>> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Commands so far that reached the scheduler (see SCHEDULER_PROGRAMS). */
  schedulerCommands(): number {
    let n = 0;
    for (const [key, count] of this.counts) if (SCHEDULER_PROGRAMS.has(key)) n += count;
    return n;
  }

  run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.bump(programOf(argv) ?? '(empty argv)');
    return this.inner.run(argv, options);
  }

  readFile(path: string, options?: FileOptions): Promise<Buffer> {
    this.bump('sftp read');
    return this.inner.readFile(path, options);
  }

  writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    options: WriteFileOptions,
  ): Promise<void> {
    this.bump('sftp write');
    return this.inner.writeFileAtomic(path, data, options);
  }

  mkdir(path: string, options: WriteFileOptions): Promise<void> {
    this.bump('sftp mkdir');
    return this.inner.mkdir(path, options);
  }

  exists(path: string, options?: FileOptions): Promise<boolean> {
    this.bump('sftp exists');
    return this.inner.exists(path, options);
  }

  remove(path: string, options?: FileOptions): Promise<void> {
    this.bump('sftp remove');
    return this.inner.remove(path, options);
  }

  forward(remoteHost: string, remotePort: number, options?: ForwardOptions): Promise<PortForward> {
    this.bump('forward');
    return this.inner.forward(remoteHost, remotePort, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private bump(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}
