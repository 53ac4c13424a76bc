/**
 * Which template a kernel profile runs. A profile names a kernel template (`kernel`,
 * `spark-kernel`) or an engine (`spark`), which means the kernel whose job also runs that engine:
 * the template composed of the engine and a kernel (`compose: [spark, kernel]`). Pure.
 */
import type { Template } from './types.js';

/** The kernel template for `name`, or undefined when it is neither a kernel nor a composable engine. */
export function kernelTemplateFor(
  templates: ReadonlyMap<string, Template>,
  name: string,
): Template | undefined {
  const named = templates.get(name);
  if (named === undefined) return undefined;
  if (named.kind === 'kernel') return named;
  if (named.kind !== 'engine') return undefined;
  // Name order, so that the choice does not depend on how the directory was read.
  return [...templates.values()]
    .filter((t) => t.kind === 'kernel' && t.compose?.engine === name)
    .sort((a, b) => a.name.localeCompare(b.name))[0];
}

/** What a kernel profile may name: kernel templates and the engines one of them composes. */
export function kernelTemplateNames(templates: ReadonlyMap<string, Template>): string[] {
  return [...templates.keys()].filter((name) => kernelTemplateFor(templates, name) !== undefined);
}
