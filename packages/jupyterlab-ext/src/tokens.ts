/** What other plugins may use from this one, and the command ids it registers. */
import { Token } from '@lumino/coreutils';
import type { AgentApi } from './agent-api.js';
import type { HpcModel } from './hpc-model.js';

export interface IHpcJupyter {
  readonly model: HpcModel;
  readonly api: AgentApi;
}

export const IHpcJupyter = new Token<IHpcJupyter>(
  '@hpc-jupyter/jupyterlab:IHpcJupyter',
  'The HPC sidebar model and the client of the hpc-jupyter agent.',
);

export const PLUGIN_ID = '@hpc-jupyter/jupyterlab:plugin';

export const CommandIds = {
  showSidebar: 'hpc-jupyter:show-sidebar',
  refresh: 'hpc-jupyter:refresh',
  launch: 'hpc-jupyter:launch',
  openSession: 'hpc-jupyter:open-session',
  showLogs: 'hpc-jupyter:show-logs',
  openDashboard: 'hpc-jupyter:open-dashboard',
  insertClient: 'hpc-jupyter:insert-client',
  stopSession: 'hpc-jupyter:stop-session',
  relaunchSession: 'hpc-jupyter:relaunch-session',
} as const;

/** User settings (schema/plugin.json). */
export interface HpcSettings {
  readonly defaultCluster: string;
  readonly logLines: number;
  readonly confirmStop: boolean;
}

export const DEFAULT_SETTINGS: HpcSettings = {
  defaultCluster: '',
  logLines: 200,
  confirmStop: true,
};
