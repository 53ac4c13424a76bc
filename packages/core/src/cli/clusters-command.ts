/** `hpc-jupyter clusters`: every configured cluster, and every configuration problem. */
import type { ClusterCliContext } from './context.js';
import { formatTable } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export function clustersCommand(ctx: ClusterCliContext, json: boolean): ExitCode {
  const clusters = [...ctx.config.clusters.values()];
  const problems = ctx.config.problems;
  if (json) {
    ctx.out.write(
      `${JSON.stringify(
        {
          clusters: clusters.map((c) => ({
            name: c.name,
            title: c.title,
            scheduler: c.scheduler,
            host: c.ssh?.host,
            source: c.source,
          })),
          problems: problems.map((p) => ({
            file: p.file,
            line: p.line,
            keyPath: p.keyPath,
            message: p.message,
          })),
        },
        null,
        2,
      )}\n`,
    );
    return EXIT.ok;
  }
  const rows = [['NAME', 'SCHEDULER', 'REACHED', 'DEFINED IN', 'TITLE']];
  for (const c of clusters) {
    const reached =
      c.ssh === undefined
        ? 'this machine'
        : `ssh ${c.ssh.user === undefined ? '' : `${c.ssh.user}@`}${c.ssh.host}${c.ssh.port === undefined ? '' : `:${c.ssh.port}`}`;
    rows.push([c.name, c.scheduler, reached, c.source, c.title ?? '']);
  }
  ctx.out.write(`${formatTable(rows)}\n`);
  if (problems.length > 0) {
    ctx.err.write(
      `\n${problems.length} configuration problem(s); the clusters above still work:\n`,
    );
    for (const p of problems) ctx.err.write(`  ${p.message}\n`);
  }
  return EXIT.ok;
}
