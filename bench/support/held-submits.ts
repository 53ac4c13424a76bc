/**
 * A command runner that submits every job held (`sbatch --hold`) and passes everything else
 * through. The scheduler-load benchmark puts its sessions in the same phase, queued, without a
 * blocker job taking all the test cluster's nodes from whoever else is using it; they are
 * cancelled at the end without ever running. (The SBATCH_HOLD variable would be tidier, but
 * sbatch 22.05 ignores it: checked on the test cluster.)
 */
import { programOf } from '../../test/e2e/support.js';
import type {
  CommandRunner,
  RunOptions,
  RunResult,
} from '../../packages/core/src/transport/types.js';

export function holdingSubmits(inner: CommandRunner): CommandRunner {
  return {
    run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
      return inner.run(withHold(argv), options);
    },
  };
}

/** The argv with `--hold` right after `sbatch` (after any `env NAME=VALUE` prefix). */
export function withHold(argv: readonly string[]): readonly string[] {
  const program = programOf(argv);
  if (program !== 'sbatch') return argv;
  const at = argv.indexOf(program) + 1;
  return [...argv.slice(0, at), '--hold', ...argv.slice(at)];
}
