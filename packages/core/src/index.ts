/** @hpc-jupyter/core: everything of hpc-jupyter that is not UI. */
export * from './errors.js';
export type * from './transport/types.js';
export * from './schedulers/types.js';
export * from './config/index.js';
export { LocalTransport } from './transport/local.js';
export { LocalScheduler, type LocalSchedulerOptions } from './schedulers/local.js';
export { SlurmScheduler, type SlurmSchedulerOptions } from './schedulers/slurm.js';
export { validateResources } from './schedulers/resources.js';
export { expandHostlist } from './schedulers/hostlist.js';
export { SLURM_STATE_MAP, mapSlurmState } from './schedulers/slurm-states.js';
export { renderSlurmDirectives } from './schedulers/slurm-directives.js';
export { quoteShellArg, quoteShellCommand } from './transport/shell-quote.js';
export { ClusterConnections, type OpenCluster } from './clusters/connections.js';
export { ensureWorkdir, remoteHome } from './clusters/workdir.js';
