// POST /v1/kernelspecs on its own: the profile lands in the user's config (a directory here),
// the kernelspec in the user's Jupyter data directory, and bad requests change nothing.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILTIN_TEMPLATES_DIR } from '../templates/index.js';
import { loadTemplates } from '../templates/template-loader.js';
import { emptyConfig } from './agent-test-harness.js';
import type { RouteContext } from './router.js';
import type { RouteDeps } from './routes.js';
import { kernelspecRoutes, parseKernelspecRequest } from './routes-kernelspecs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hpcj-kernelspec-route-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function post(body: unknown): Promise<unknown> {
  const deps = { config: emptyConfig(), version: '9.9.9' } as unknown as RouteDeps;
  const env = {
    HPC_JUPYTER_CONFIG: dir,
    JUPYTER_DATA_DIR: path.join(dir, 'data'),
  };
  const [route] = kernelspecRoutes(deps, {
    env,
    home: dir,
    templates: () => loadTemplates(BUILTIN_TEMPLATES_DIR),
  });
  if (route === undefined) throw new Error('no route');
  const ctx = { body: () => Promise.resolve(body), params: {} } as unknown as RouteContext;
  return Promise.resolve(route.handle(ctx));
}

describe('POST /v1/kernelspecs', () => {
  it('writes the profile and installs its kernelspec', async () => {
    const answer = (await post({
      displayName: 'Slurm 2-node Python',
      cluster: 'local',
      template: 'kernel',
      params: { nodes: 2, hours: 0.5 },
    })) as { status: number; body: Record<string, unknown> };
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({
      profile: 'slurm-2-node-python',
      kernelspec: 'hpcj-slurm-2-node-python',
      configFile: path.join(dir, 'profiles.yaml'),
      dir: path.join(dir, 'data', 'kernels', 'hpcj-slurm-2-node-python'),
    });
    const config = parse(readFileSync(path.join(dir, 'profiles.yaml'), 'utf8')) as {
      profiles: Record<string, unknown>;
    };
    expect(config.profiles['slurm-2-node-python']).toEqual({
      displayName: 'Slurm 2-node Python',
      cluster: 'local',
      template: 'kernel',
      params: { nodes: 2, hours: 0.5 },
    });
    const spec = JSON.parse(
      readFileSync(path.join(String(answer.body['dir']), 'kernel.json'), 'utf8'),
    ) as { display_name: string; argv: string[]; env: Record<string, string> };
    expect(spec.display_name).toBe('Slurm 2-node Python');
    expect(spec.argv).toContain('slurm-2-node-python');
    expect(spec.env['HPC_JUPYTER_CONFIG']).toBe(dir);
  });

  it('refuses templates that are not kernels, bad values and unknown clusters; writes nothing', async () => {
    const base = { displayName: 'X', cluster: 'local', template: 'kernel' };
    await expect(post({ ...base, template: 'dask' })).rejects.toThrow(/not a kernel/);
    await expect(post({ ...base, params: { nodes: 'many' } })).rejects.toThrow();
    await expect(post({ ...base, cluster: 'nowhere' })).rejects.toThrow(/No cluster/);
    await expect(post({ ...base, template: 'nope' })).rejects.toThrow(/No template/);
    expect(existsSync(path.join(dir, 'profiles.yaml'))).toBe(false);
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  });
});

describe('parseKernelspecRequest', () => {
  it('checks the shape', () => {
    expect(() => parseKernelspecRequest([])).toThrow(/JSON object/);
    expect(() => parseKernelspecRequest({ displayName: ' ', cluster: 'c', template: 't' })).toThrow(
      /displayName/,
    );
    expect(() =>
      parseKernelspecRequest({ displayName: 'A', cluster: 'c', template: 't', name: 'Bad Name' }),
    ).toThrow(/"name"/);
    expect(() =>
      parseKernelspecRequest({ displayName: 'A', cluster: 'c', template: 't', params: { x: [] } }),
    ).toThrow(/Parameter "x"/);
    expect(
      parseKernelspecRequest({ displayName: ' A ', cluster: 'c', template: 't', name: 'a-1' }),
    ).toEqual({ displayName: 'A', cluster: 'c', template: 't', params: {}, name: 'a-1' });
  });
});
