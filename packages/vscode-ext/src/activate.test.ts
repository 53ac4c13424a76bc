import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { activateExtension, VIEW_ID } from './activate';
import { FakeVscode } from './fake-vscode.testutil';
import { COMMAND_IDS } from './session-commands';
import { activateWithTestAgent, type Fixture } from './test-agent.testutil';

interface Manifest {
  main: string;
  activationEvents: string[];
  extensionDependencies: string[];
  contributes: {
    commands: { command: string }[];
    views: Record<string, { id: string }[]>;
    viewsContainers: { activitybar: { id: string; icon: string }[] };
    menus: Record<string, { command: string }[]>;
    configuration: { properties: Record<string, unknown> };
  };
}

const PKG_DIR = path.join(__dirname, '..');
const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8')) as Manifest;

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe('activation', () => {
  it('registers the server collection, the view, every command and the status bar', async () => {
    fx = await activateWithTestAgent();
    expect(fx.fake.collections.map((c) => [c.id, c.label])).toEqual([
      ['hpc-jupyter', 'HPC clusters'],
    ]);
    expect([...fx.fake.treeViews.keys()]).toEqual([VIEW_ID]);
    expect([...fx.fake.commands.keys()].sort()).toEqual([...COMMAND_IDS].sort());
    expect(fx.fake.statusBarItems).toHaveLength(1);
    // Everything is released with the context.
    for (const d of fx.context.subscriptions.splice(0)) await d.dispose();
    expect(fx.fake.commands.size).toBe(0);
    expect(fx.fake.treeViews.size).toBe(0);
    expect(fx.fake.collections[0]?.disposed).toBe(true);
  });

  it('still offers the view and commands without the Jupyter extension', async () => {
    const fake = new FakeVscode();
    fake.jupyterInstalled = false;
    const context = fake.context();
    const api = await activateExtension(fake.vs, context, {
      env: { XDG_RUNTIME_DIR: '/nonexistent' },
      runtime: { execPath: process.execPath, isElectron: false, bundledCli: '/x.js' },
      connect: () => Promise.reject(new Error('no agent here')),
    });
    expect(api.collection).toBeUndefined();
    expect(fake.commands.size).toBe(COMMAND_IDS.length);
    expect(fake.outputText('HPC Jupyter')).toContain('ms-toolsai.jupyter is not installed');
    for (const d of context.subscriptions.splice(0)) await d.dispose();
    await api.connection.dispose();
  });
});

describe('package.json', () => {
  it('contributes exactly the commands the extension registers, each with an activation event', () => {
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    expect(contributed).toEqual([...COMMAND_IDS].sort());
    for (const id of COMMAND_IDS) expect(manifest.activationEvents).toContain(`onCommand:${id}`);
    for (const [menu, entries] of Object.entries(manifest.contributes.menus)) {
      for (const entry of entries) expect(COMMAND_IDS, menu).toContain(entry.command);
    }
  });

  it('activates on notebooks and its view, depends on Jupyter, and has its view container', () => {
    expect(manifest.main).toBe('dist/extension.js');
    expect(manifest.extensionDependencies).toEqual(['ms-toolsai.jupyter']);
    expect(manifest.activationEvents).toEqual(
      expect.arrayContaining([
        'onNotebook:jupyter-notebook',
        'onNotebook:interactive',
        `onView:${VIEW_ID}`,
      ]),
    );
    const [container] = manifest.contributes.viewsContainers.activitybar;
    expect(manifest.contributes.views[container?.id ?? '']?.map((v) => v.id)).toEqual([VIEW_ID]);
    expect(readdirSync(path.join(PKG_DIR, 'media'))).toContain(
      path.basename(container?.icon ?? ''),
    );
    expect(Object.keys(manifest.contributes.configuration.properties).sort()).toEqual([
      'hpcJupyter.command',
      'hpcJupyter.walltimeWarningMinutes',
    ]);
  });
});
