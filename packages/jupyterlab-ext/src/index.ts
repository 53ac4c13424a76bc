/**
 * The hpc-jupyter JupyterLab extension. The HPC sidebar, launch forms and dialogs arrive with the
 * JupyterLab issue; this plugin registers the extension so packaging and activation are exercised.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@hpc-jupyter/jupyterlab:plugin',
  description: 'Jupyter on HPC clusters: sessions, engines and remote kernels in batch jobs.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    app.started.catch((reason: unknown) => {
      console.error('hpc-jupyter: JupyterLab failed to start', reason);
    });
  },
};

export default plugin;
