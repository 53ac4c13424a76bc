/**
 * `hpc-jupyter kernel --profile NAME -f CONNECTION_FILE`: the remote-kernel launcher, as Jupyter
 * starts it. Kernelspecs run `kernel/kernel-main.js` directly, which skips loading the rest of the
 * CLI; this is the same launcher for people who type the command.
 */
import { InvalidInputError } from '../errors.js';

export async function kernelCommand(argv: readonly string[]): Promise<void> {
  const { KERNEL_USAGE, KernelUsageError, runKernel } = await import('../kernel/kernel-main.js');
  try {
    await runKernel(argv);
  } catch (error) {
    if (error instanceof KernelUsageError) {
      throw new InvalidInputError(error.message, { hint: KERNEL_USAGE.trim() });
    }
    throw error;
  }
}
