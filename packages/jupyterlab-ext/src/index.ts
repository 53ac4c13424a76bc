/**
 * The hpc-jupyter JupyterLab extension: composes the agent client, the model fed by the agent's
 * event stream, the HPC sidebar, SSH prompt dialogs, commands and settings. Each piece owns its
 * own resources; this module only wires them together.
 */
import type { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ILabShell as ILabShellToken } from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { AgentApi } from './agent-api.js';
import { dashboardPanel, dashboardPanelId } from './dashboard-panel.js';
import { EventConnection } from './event-connection.js';
import { HpcModel } from './hpc-model.js';
import { hpcIcon } from './icon.js';
import { logsPanel } from './logs-panel.js';
import { watchPrompts } from './prompt-dialogs.js';
import { insertIntoNotebook, isNotebookPanel } from './notebook-insert.js';
import { accessPageUrl, clientCode, dashboards, scalePlan, workerNodes } from './session-format.js';
import { HpcSidebar } from './sidebar.js';
import {
  CommandIds,
  DEFAULT_SETTINGS,
  IHpcJupyter,
  PLUGIN_ID,
  type HpcSettings,
} from './tokens.js';

const plugin: JupyterFrontEndPlugin<IHpcJupyter> = {
  id: PLUGIN_ID,
  description: 'Jupyter on HPC clusters: the HPC sidebar, launch forms, sessions and SSH prompts.',
  autoStart: true,
  provides: IHpcJupyter,
  requires: [ILabShellToken],
  optional: [ICommandPalette, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    palette: ICommandPalette | null,
    registry: ISettingRegistry | null,
  ): IHpcJupyter => {
    const serverSettings = ServerConnection.makeSettings();
    const api = new AgentApi(serverSettings.baseUrl, (url, init) =>
      ServerConnection.makeRequest(url, init, serverSettings),
    );
    const model = new HpcModel();
    let settings: HpcSettings = DEFAULT_SETTINGS;
    const notify = (message: string): void => {
      Notification.error(message, { autoClose: 8000 });
    };
    const guard = (work: Promise<unknown>): void => {
      work.catch((err: unknown) => {
        notify(err instanceof Error ? err.message : String(err));
      });
    };

    const knownSession = (id: string) => {
      const s = model.session(id);
      if (s === undefined) throw new Error('This session is no longer listed by the agent.');
      return s;
    };
    // What "Copy" on a card puts on the clipboard: the client code of an engine session, else
    // the URL "Open" would open (a Jupyter server session's JupyterLab, with its token).
    const copyConnection = async (id: string): Promise<void> => {
      // Browsers offer the clipboard only to secure pages (https:, localhost).
      const clipboard = navigator.clipboard as Clipboard | undefined;
      if (clipboard === undefined) {
        throw new Error(
          'The clipboard is not available on this page: browsers allow it only over HTTPS or on localhost.',
        );
      }
      const s = knownSession(id);
      const text = clientCode(s) ?? accessPageUrl(await api.access(id));
      try {
        await clipboard.writeText(text);
      } catch (err) {
        throw new Error(
          `Could not copy to the clipboard: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    };
    // As `%cluster scale N`: one extra job of workers (Dask) or engines (ipyparallel) up, or the
    // newest extra jobs stopped.
    const scale = async (id: string, nodes: number): Promise<string> => {
      const base = knownSession(id);
      const plan = scalePlan(base, model.sessions, nodes);
      if (plan.template !== undefined && plan.start !== undefined) {
        await api.startSession({
          cluster: base.cluster,
          template: plan.template,
          params: plan.start,
        });
      }
      // One at a time, so a refusal leaves the rest running and is what the card shows.
      for (const extra of plan.stop) await api.stopSession(extra);
      return [plan.summary, plan.note].filter((t) => t !== undefined && t !== '').join(' ');
    };

    const sidebar = new HpcSidebar({
      model,
      api,
      notify,
      defaultCluster: () => settings.defaultCluster,
      installKernel: async ({ template, cluster, params, displayName }) => {
        const installed = await api.installKernel({ displayName, cluster, template, params });
        // The Launcher and the kernel picker follow the kernelspec manager: no page reload.
        await app.serviceManager.kernelspecs.refreshSpecs();
        Notification.success(
          `Installed the kernel "${installed.displayName}" (${installed.kernelspec}).`,
          { autoClose: 5000 },
        );
      },
      actions: {
        open: (id) => void app.commands.execute(CommandIds.openSession, { id }),
        dashboard: (id, endpoint) =>
          void app.commands.execute(CommandIds.openDashboard, { id, endpoint }),
        insertClient: (id) => void app.commands.execute(CommandIds.insertClient, { id }),
        copyConnection,
        workerNodes: (id) => {
          const s = model.session(id);
          return s === undefined ? 0 : workerNodes(s, model.sessions);
        },
        scale,
        logs: (id) => void app.commands.execute(CommandIds.showLogs, { id }),
        stop: (id) => void app.commands.execute(CommandIds.stopSession, { id }),
        relaunch: (id) => void app.commands.execute(CommandIds.relaunchSession, { id }),
      },
    });
    sidebar.title.icon = hpcIcon;
    shell.add(sidebar, 'left', { rank: 450 });

    const events = new EventConnection(api, model, (url) => {
      // EventSource sends the Jupyter cookie; add the token for token-only (no cookie) setups.
      const token = serverSettings.token;
      return new EventSource(token === '' ? url : `${url}?token=${encodeURIComponent(token)}`);
    });
    app.restored.then(
      () => {
        events.start();
      },
      () => undefined,
    );
    const stopPrompts = watchPrompts(model, api);
    sidebar.disposed.connect(() => {
      events.dispose();
      stopPrompts();
      model.dispose();
    });

    const idArg = (args: Readonly<Record<string, unknown>>): string =>
      typeof args['id'] === 'string' ? args['id'] : '';

    app.commands.addCommand(CommandIds.showSidebar, {
      label: 'Show the HPC sidebar',
      execute: () => {
        shell.activateById(sidebar.id);
      },
    });
    app.commands.addCommand(CommandIds.refresh, {
      label: 'HPC: Reconnect to the agent',
      execute: () => {
        events.reconnect();
      },
    });
    app.commands.addCommand(CommandIds.launch, {
      label: (args) =>
        typeof args['template'] === 'string' ? `HPC: Launch ${args['template']}…` : 'HPC: Launch…',
      execute: (args) => {
        shell.activateById(sidebar.id);
        const template = typeof args['template'] === 'string' ? args['template'] : 'jupyter';
        return sidebar.showForm(template);
      },
    });
    app.commands.addCommand(CommandIds.openSession, {
      label: 'HPC: Open session in a new tab',
      execute: (args) => {
        // Opened synchronously so pop-up blockers see the user's click; filled in once known.
        const tab = window.open('', '_blank');
        guard(
          api.access(idArg(args)).then(
            (access) => {
              const url = accessPageUrl(access);
              if (tab === null) window.open(url, '_blank', 'noopener');
              else {
                tab.opener = null;
                tab.location.href = url;
              }
            },
            (err: unknown) => {
              tab?.close();
              throw err;
            },
          ),
        );
      },
    });
    app.commands.addCommand(CommandIds.showLogs, {
      label: 'HPC: Show session log',
      execute: (args) => {
        const id = idArg(args);
        const panel = logsPanel(api, id, model.session(id)?.title ?? id, settings.logLines);
        shell.add(panel, 'main');
        shell.activateById(panel.id);
      },
    });
    // Without an id (the palette), the newest ready session the command applies to.
    const pick = (args: Readonly<Record<string, unknown>>, fits: (id: string) => boolean) => {
      const id = idArg(args);
      if (id !== '') return model.session(id);
      return model.sessions.find((s) => fits(s.id));
    };
    const hasDashboard = (id: string): boolean => {
      const s = model.session(id);
      return s !== undefined && dashboards(s).length > 0;
    };
    const hasClient = (id: string): boolean => {
      const s = model.session(id);
      return s !== undefined && clientCode(s) !== undefined;
    };
    app.commands.addCommand(CommandIds.openDashboard, {
      label: (args) =>
        idArg(args) === ''
          ? 'HPC: Open the dashboard of the newest session'
          : 'HPC: Open dashboard',
      caption: 'The Dask dashboard or Spark UI of a session, in a tab',
      isEnabled: (args) => pick(args, hasDashboard) !== undefined,
      execute: (args) => {
        const s = pick(args, hasDashboard);
        if (s === undefined) {
          notify('No session with a dashboard is ready.');
          return;
        }
        const wanted = typeof args['endpoint'] === 'string' ? args['endpoint'] : undefined;
        const all = dashboards(s);
        const d = all.find((x) => x.endpoint === wanted) ?? all[0];
        if (d === undefined) {
          notify(`${s.title} has no dashboard (yet).`);
          return;
        }
        const panelId = dashboardPanelId(s.id, d.endpoint);
        for (const widget of shell.widgets('main')) {
          if (widget.id === panelId) {
            shell.activateById(panelId);
            return;
          }
        }
        const panel = dashboardPanel({
          id: s.id,
          endpoint: d.endpoint,
          label: d.label,
          sessionTitle: s.title,
          path: d.path,
          api,
          notify,
        });
        shell.add(panel, 'main', { mode: 'split-right' });
        shell.activateById(panel.id);
      },
    });
    app.commands.addCommand(CommandIds.insertClient, {
      label: (args) =>
        idArg(args) === ''
          ? 'HPC: Insert a client of the newest cluster into the notebook'
          : 'HPC: Insert client code into the notebook',
      caption: 'Code that connects a Dask or ipyparallel client to a session, in a new cell',
      isEnabled: (args) => pick(args, hasClient) !== undefined,
      execute: async (args) => {
        const s = pick(args, hasClient);
        const code = s === undefined ? undefined : clientCode(s);
        if (s === undefined || code === undefined) {
          notify('No Dask or ipyparallel session is ready.');
          return;
        }
        try {
          // The agent readies the forwards and client files now, so a problem shows here
          // rather than in the cell; the cell asks again and reuses them.
          await api.attach(s.id);
          let target = shell.currentWidget;
          if (!isNotebookPanel(target)) {
            target = (await app.commands.execute('notebook:create-new', {})) as typeof target;
          }
          if (!isNotebookPanel(target)) {
            notify('Open a notebook to insert the client code into.');
            return;
          }
          await insertIntoNotebook(target, code);
          shell.activateById(target.id);
        } catch (err) {
          notify(err instanceof Error ? err.message : String(err));
        }
      },
    });
    app.commands.addCommand(CommandIds.stopSession, {
      label: 'HPC: Stop session',
      execute: async (args) => {
        const id = idArg(args);
        const s = model.session(id);
        if (settings.confirmStop) {
          const answer = await showDialog({
            title: 'Stop this session?',
            body: `${s?.title ?? id}${s?.jobId === undefined ? '' : ` (job ${s.jobId})`} will be cancelled; unsaved work in it is lost.`,
            buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })],
          });
          if (!answer.button.accept) return;
        }
        guard(api.stopSession(id));
      },
    });
    app.commands.addCommand(CommandIds.relaunchSession, {
      label: 'HPC: Relaunch with the same parameters',
      execute: (args) => {
        const s = model.session(idArg(args));
        if (s === undefined) return;
        shell.activateById(sidebar.id);
        return sidebar.showForm(s.template, s.cluster, s.params);
      },
    });
    if (palette !== null) {
      const category = 'HPC';
      for (const command of [
        CommandIds.showSidebar,
        CommandIds.refresh,
        CommandIds.launch,
        CommandIds.openDashboard,
        CommandIds.insertClient,
      ]) {
        palette.addItem({ command, category });
      }
    }

    if (registry !== null) {
      registry.load(PLUGIN_ID).then(
        (loaded) => {
          const read = (): void => {
            settings = { ...DEFAULT_SETTINGS, ...(loaded.composite as Partial<HpcSettings>) };
          };
          read();
          loaded.changed.connect(read);
        },
        (err: unknown) => {
          console.warn('hpc-jupyter: settings not loaded', err);
        },
      );
    }
    return { model, api };
  },
};

export default plugin;
