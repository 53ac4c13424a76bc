/**
 * A session's web UI (the Dask dashboard, a Spark UI) in a main-area tab: an iframe on the agent's
 * endpoint proxy, so it is served from JupyterLab's own origin behind Jupyter's authentication,
 * with no token in its URL. The frame may run scripts and is same-origin: without
 * allow-same-origin its document has an opaque origin, and Chromium then sends none of
 * JupyterLab's (SameSite=Lax) cookies with its scripts, styles, fetches and WebSocket (tried:
 * only the frame's own document got the cookie), so Jupyter refuses every one of them and Bokeh's
 * WebSocket (Origin: null) too. What the frame shows is only what the job's own UI serves: each UI
 * refuses everyone without the job's web UI token, which only the agent's proxy adds, and the
 * proxy gives no UI the browser's cookies nor lets one set any. One tab per session and UI:
 * opening it again brings that tab back.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IFrame, refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';

export interface DashboardPanelOptions {
  readonly id: string;
  readonly endpoint: string;
  readonly label: string;
  readonly sessionTitle: string;
  readonly url: string;
}

/** The DOM id of a session's dashboard tab: stable, so a second open finds the first. */
export function dashboardPanelId(id: string, endpoint: string): string {
  return `hpc-jupyter-dashboard-${id}-${endpoint}`;
}

export function dashboardPanel(options: DashboardPanelOptions): MainAreaWidget<IFrame> {
  const content = new IFrame({
    sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms', 'allow-popups'],
    referrerPolicy: 'same-origin',
  });
  content.addClass('hpcj-dashboard');
  content.url = options.url;
  const panel = new MainAreaWidget({ content });
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
        // Assigning the same URL again reloads the frame.
        content.url = '';
        content.url = options.url;
      },
    }),
  );
  return panel;
}
