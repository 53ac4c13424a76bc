/** A session's job log in a main-area tab, refreshed on demand. */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import type { AgentApi } from './agent-api.js';
import { h } from './dom.js';

export function logsPanel(api: AgentApi, id: string, title: string, lines: number): MainAreaWidget {
  const pre = h('pre', { class: 'hpcj-log', tabindex: '0' });
  const content = new Widget({ node: h('div', { class: 'hpcj-log-panel' }, pre) });
  const panel = new MainAreaWidget({ content });
  panel.id = `hpc-jupyter-logs-${id}`;
  panel.title.label = `Log: ${title}`;
  panel.title.closable = true;
  const load = async (): Promise<void> => {
    try {
      pre.textContent = (await api.logs(id, lines)) || '(the log is empty so far)';
    } catch (err) {
      pre.textContent = err instanceof Error ? err.message : String(err);
    }
  };
  panel.toolbar.addItem(
    'refresh',
    new ToolbarButton({ icon: refreshIcon, tooltip: 'Reload the log', onClick: () => void load() }),
  );
  void load();
  return panel;
}
