/**
 * A session's web UI (the Dask dashboard, a Spark UI) in a main-area tab, in a sandboxed frame
 * without allow-same-origin: its document has an opaque origin, so the UI's scripts can never
 * touch JupyterLab's origin, its cookies or its API, whatever the UI serves. Such a frame sends
 * none of JupyterLab's cookies, so it is not served through Jupyter's cookie authentication but
 * through a capability link: the tab asks the agent (an authenticated API call) for a link to
 * this session's endpoint, and the frame opens `<base_url>hpc-jupyter-ui/<link>/...` (the Jupyter
 * server extension hpc_jupyter.ui_route), which admits requests by that link alone and passes
 * them to the agent, which adds the job's web UI token as for every UI. The link ends when the
 * tab closes (revoked), when the session ends, or when it goes unused; the reload button asks for
 * a fresh one. The frame sends no referrer, and the route gives the UI no cookie of the browser
 * nor lets it set one. One tab per session and UI: opening it again brings that tab back.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IFrame, refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import type { AgentApi } from './agent-api.js';

export interface DashboardPanelOptions {
  readonly id: string;
  readonly endpoint: string;
  readonly label: string;
  readonly sessionTitle: string;
  /** The page to open, from the UI's root (e.g. "/status"). */
  readonly path: string;
  readonly api: Pick<AgentApi, 'uiLink' | 'uiLinkUrl' | 'revokeUiLink'>;
  /** Shows why the UI could not be opened. */
  readonly notify: (message: string) => void;
}

/** The DOM id of a session's dashboard tab: stable, so a second open finds the first. */
export function dashboardPanelId(id: string, endpoint: string): string {
  return `hpc-jupyter-dashboard-${id}-${endpoint}`;
}

/** No allow-same-origin: the frame's origin is opaque (see the module comment). */
export const DASHBOARD_SANDBOX: IFrame.SandboxExceptions[] = [
  'allow-scripts',
  'allow-forms',
  'allow-popups',
];

export function dashboardPanel(options: DashboardPanelOptions): MainAreaWidget<IFrame> {
  const { api } = options;
  const content = new IFrame({ sandbox: DASHBOARD_SANDBOX, referrerPolicy: 'no-referrer' });
  content.addClass('hpcj-dashboard');
  const panel = new MainAreaWidget({ content });
  let link: string | undefined;
  const revoke = (old: string | undefined): void => {
    if (old !== undefined) void api.revokeUiLink(old).catch(() => undefined);
  };
  // A fresh link for each load, the previous one revoked; none once the tab is gone.
  const load = async (): Promise<void> => {
    try {
      const minted = (await api.uiLink(options.id, options.endpoint)).link;
      if (panel.isDisposed) {
        revoke(minted);
        return;
      }
      revoke(link);
      link = minted;
      content.url = api.uiLinkUrl(minted, options.path);
    } catch (err) {
      options.notify(
        `Could not open the ${options.label} of ${options.sessionTitle}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  panel.id = dashboardPanelId(options.id, options.endpoint);
  panel.addClass('hpcj-dashboard-panel');
  panel.node.dataset['sessionId'] = options.id;
  panel.node.dataset['endpoint'] = options.endpoint;
  panel.title.label = `${options.label}: ${options.sessionTitle}`;
  panel.title.caption = `${options.label} of ${options.sessionTitle}`;
  panel.title.closable = true;
  panel.toolbar.addItem(
    'reload',
    new ToolbarButton({
      icon: refreshIcon,
      tooltip: `Reload the ${options.label}`,
      onClick: () => {
        void load();
      },
    }),
  );
  panel.disposed.connect(() => {
    revoke(link);
    link = undefined;
  });
  void load();
  return panel;
}
