/** `hpc-jupyter site CLUSTER`: partitions, accounts and QOS the user may use on a cluster. */
import type { ClusterCliContext } from './context.js';
import { formatTable } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { formatMinutes } from './format.js';

export async function siteCommand(
  ctx: ClusterCliContext,
  cluster: string,
  json: boolean,
): Promise<ExitCode> {
  const { scheduler } = ctx.clusters.get(cluster);
  const info = await scheduler.siteInfo({ signal: ctx.signal });
  if (json) {
    ctx.out.write(`${JSON.stringify(info, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows = [['PARTITION', 'STATE', 'NODES', 'CPUS/NODE', 'MEM/NODE', 'MAX NODES', 'MAX TIME']];
  for (const p of info.partitions) {
    rows.push([
      p.isDefault ? `${p.name} (default)` : p.name,
      p.available ? 'up' : 'down',
      p.totalNodes?.toString() ?? '-',
      p.cpusPerNode?.toString() ?? '-',
      p.memoryMiBPerNode === undefined ? '-' : `${p.memoryMiBPerNode} MiB`,
      p.maxNodes?.toString() ?? 'no limit',
      p.maxWalltimeMinutes === undefined ? 'no limit' : formatMinutes(p.maxWalltimeMinutes),
    ]);
  }
  ctx.out.write(`${formatTable(rows)}\n\n`);
  const accounts = info.accounts.map((a) => (a === info.defaultAccount ? `${a} (default)` : a));
  ctx.out.write(`user:     ${info.user}\n`);
  ctx.out.write(
    `accounts: ${accounts.length > 0 ? accounts.join(', ') : '(none: no accounting)'}\n`,
  );
  ctx.out.write(`qos:      ${info.qos.length > 0 ? info.qos.join(', ') : '(none)'}\n`);
  return EXIT.ok;
}
