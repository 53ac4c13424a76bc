import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, ConfigError } from '../errors.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates } from './index.js';

describe('loadTemplates on the built-in templates', () => {
  it('loads the built-in templates with resolved shared parameters and the runtime', async () => {
    const templates = await loadTemplates(BUILTIN_TEMPLATES_DIR);
    expect([...templates.keys()]).toEqual([
      'dask',
      'dask-workers',
      'ipyparallel',
      'jupyter',
      'kernel',
      'spark',
    ]);
    const jupyter = templates.get('jupyter');
    expect(jupyter?.kind).toBe('server');
    expect(templates.get('kernel')?.kind).toBe('kernel');
    const props = jupyter?.parameters.properties ?? {};
    // From the shared file, with the manifest's own keys replacing the shared ones.
    expect(props['nodes']).toMatchObject({ type: 'integer', minimum: 1, default: 1 });
    expect(props['nodes']?.description).toMatch(/JupyterLab runs on the first/);
    expect(props['cpusPerTask']).toMatchObject({ default: 2, title: 'CPUs per node' });
    expect(props['partition']?.['x-options']).toBe('partitions');
    expect(Object.values(props).every((d) => !('$ref' in d))).toBe(true);
    expect(jupyter?.resources.walltimeMinutes).toEqual({ param: 'hours', scale: 60 });
    expect(jupyter?.resources.tasksPerNode).toEqual({ value: 1 });
    expect(jupyter?.runtime).toContain('hpcj_write_connection()');
    expect(jupyter?.body).toContain('JUPYTER_TOKEN_FILE');
  });

  it('honours an aborted signal', async () => {
    await expect(
      loadTemplates(BUILTIN_TEMPLATES_DIR, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('loadTemplates on bad manifests', () => {
  let dir: string;
  const good = [
    'name: demo',
    'title: Demo',
    'description: A demo.',
    'kind: server',
    'parameters:',
    '  type: object',
    '  properties:',
    '    nodes: { $ref: ../common/parameters.yaml#/nodes }',
    '    workers:',
    '      type: integer',
    '      title: Workers',
    '      description: Workers per node.',
    '      default: 2',
    '      minimum: 1',
    'resources:',
    '  nodes: nodes',
    '',
  ].join('\n');

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-templates-'));
    await cp(path.join(BUILTIN_TEMPLATES_DIR, 'runtime'), path.join(dir, 'runtime'), {
      recursive: true,
    });
    await cp(path.join(BUILTIN_TEMPLATES_DIR, 'common'), path.join(dir, 'common'), {
      recursive: true,
    });
    await mkdir(path.join(dir, 'demo'));
    await writeFile(path.join(dir, 'demo', 'body.sh'), 'echo hi\n');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function loadError(manifest: string): Promise<ConfigError> {
    await writeFile(path.join(dir, 'demo', 'manifest.yaml'), manifest);
    const error: unknown = await loadTemplates(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }

  it('accepts the good manifest and skips directories without one', async () => {
    await mkdir(path.join(dir, 'python'));
    await writeFile(path.join(dir, 'demo', 'manifest.yaml'), good);
    const templates = await loadTemplates(dir);
    expect([...templates.keys()]).toEqual(['demo']);
  });

  it('names file, line and key of an unknown key', async () => {
    const error = await loadError(good.replace('      minimum: 1', '      minimun: 1'));
    expect(error.file).toBe(path.join(dir, 'demo', 'manifest.yaml'));
    expect(error.keyPath).toBe('parameters.properties.workers.minimun');
    expect(error.line).toBe(14);
    expect(error.message).toContain(`${error.file}:14:`);
    expect(error.message).toMatch(/unknown key 'minimun'.*did you mean 'minimum'/);
  });

  it('reports a wrong type with the key', async () => {
    const error = await loadError(good.replace('default: 2', 'default: [2]'));
    expect(error.keyPath).toBe('parameters.properties.workers.default');
    expect(error.line).toBe(13);
  });

  it('reports a default outside its own bounds', async () => {
    const error = await loadError(good.replace('default: 2', 'default: 0'));
    expect(error.keyPath).toBe('parameters.properties.workers.default');
    expect(error.message).toMatch(/default must be at least 1, got 0/);
  });

  it('reports an unknown shared parameter with a suggestion', async () => {
    const error = await loadError(good.replace('#/nodes', '#/node'));
    expect(error.keyPath).toBe('parameters.properties.nodes.$ref');
    expect(error.line).toBe(8);
    expect(error.message).toMatch(/no shared parameter 'node'; did you mean 'nodes'/);
  });

  it('refuses a $ref to another file', async () => {
    const error = await loadError(good.replace('../common/parameters.yaml', './mine.yaml'));
    expect(error.message).toMatch(/must point into \.\.\/common\/parameters\.yaml/);
  });

  it('reports a resource mapped from a missing or mistyped parameter', async () => {
    let error = await loadError(good.replace('  nodes: nodes', '  nodes: workerz'));
    expect(error.keyPath).toBe('resources.nodes');
    expect(error.line).toBe(16);
    expect(error.message).toMatch(/no parameter 'workerz'; did you mean 'workers'/);
    error = await loadError(good.replace('  nodes: nodes', '  partition: workers'));
    expect(error.message).toMatch(/'workers' is an integer, but partition needs text/);
  });

  it('reports a bad parameter name, kind and template name', async () => {
    let error = await loadError(good.replace('    workers:', '    worker_count:'));
    expect(error.keyPath).toBe('parameters.properties.worker_count');
    expect(error.message).toMatch(/camelCase/);
    error = await loadError(good.replace('kind: server', 'kind: notebook'));
    expect(error.keyPath).toBe('kind');
    expect(error.message).toMatch(/server, kernel, engine/);
    error = await loadError(good.replace('name: demo', 'name: other'));
    expect(error.keyPath).toBe('name');
    expect(error.message).toMatch(/must be the name of its directory, 'demo'/);
  });

  it('reports YAML syntax errors with their line', async () => {
    const error = await loadError(good.replace('    workers:', '    workers: [oops'));
    expect(error.line).toBeGreaterThanOrEqual(9);
    expect(error.message).toMatch(/not valid YAML/);
  });

  it('reports a missing body.sh and a bad shared parameters file', async () => {
    await rm(path.join(dir, 'demo', 'body.sh'));
    let error = await loadError(good);
    expect(error.file).toBe(path.join(dir, 'demo', 'body.sh'));
    await writeFile(path.join(dir, 'demo', 'body.sh'), '');
    await writeFile(
      path.join(dir, 'common', 'parameters.yaml'),
      'nodes:\n  type: integer\n  title: Nodes\n',
    );
    error = await loadError(good);
    expect(error.file).toBe(path.join(dir, 'common', 'parameters.yaml'));
    expect(error.keyPath).toBe('nodes');
    expect(error.message).toMatch(/missing 'description'/);
  });
});
