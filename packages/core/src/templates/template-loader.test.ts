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
      'ipyparallel-engines',
      'jupyter',
      'kernel',
      'spark',
      'spark-kernel',
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

  it('makes spark-kernel from spark and kernel (compose)', async () => {
    const templates = await loadTemplates(BUILTIN_TEMPLATES_DIR);
    const composed = templates.get('spark-kernel');
    const spark = templates.get('spark');
    const kernel = templates.get('kernel');
    if (composed === undefined || spark === undefined || kernel === undefined) {
      throw new Error('a built-in template is missing');
    }
    expect(composed.kind).toBe('kernel');
    expect(composed.compose?.engine).toBe('spark');
    expect(composed.compose?.frontEnd).toBe('kernel');
    expect(composed.compose?.bodies).toEqual([
      { template: 'spark', body: spark.body },
      { template: 'kernel', body: kernel.body },
    ]);
    const props = composed.parameters.properties;
    // The engine's definition of a shared name wins; each part brings its own parameters.
    expect(props['nodes']).toEqual(spark.parameters.properties['nodes']);
    expect(props['workersPerNode']).toEqual(spark.parameters.properties['workersPerNode']);
    expect(props['workingDirectory']).toEqual(kernel.parameters.properties['workingDirectory']);
    expect(props['gpusPerNode']).toEqual(kernel.parameters.properties['gpusPerNode']);
    expect(composed.resources).toEqual({ ...kernel.resources, ...spark.resources });
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

  it('reports what is wrong with a composed template', async () => {
    const engine = good.replace('name: demo', 'name: eng').replace('kind: server', 'kind: engine');
    await mkdir(path.join(dir, 'eng'));
    await writeFile(path.join(dir, 'eng', 'manifest.yaml'), engine);
    await writeFile(path.join(dir, 'eng', 'body.sh'), 'echo engine\n');
    await mkdir(path.join(dir, 'web'));
    await writeFile(
      path.join(dir, 'web', 'manifest.yaml'),
      good.replace('name: demo', 'name: web'),
    );
    await writeFile(path.join(dir, 'web', 'body.sh'), 'echo web\n');
    await rm(path.join(dir, 'demo', 'body.sh'));
    const composed = (parts: string, kind = 'server'): string =>
      `name: demo\ntitle: Demo\ndescription: Both.\nkind: ${kind}\ncompose: ${parts}\n`;

    await writeFile(path.join(dir, 'demo', 'manifest.yaml'), composed('[eng, web]'));
    const demo = (await loadTemplates(dir)).get('demo');
    expect(demo?.body).toBe('echo engine\n\necho web\n');
    expect(Object.keys(demo?.parameters.properties ?? {})).toEqual(['nodes', 'workers']);

    let error = await loadError(composed('[eng, nope]'));
    expect(error.keyPath).toBe('compose.1');
    expect(error.line).toBe(5);
    expect(error.message).toMatch(/no template 'nope' to compose/);
    error = await loadError(composed('[web, eng]'));
    expect(error.message).toMatch(/'web' must be an engine template \(its kind is server\)/);
    error = await loadError(composed('[eng, web]', 'kernel'));
    expect(error.message).toMatch(/'web' starts a server, but this template's kind is kernel/);
    error = await loadError(composed('[eng]'));
    expect(error.keyPath).toBe('compose');
    error = await loadError(
      `${composed('[eng, web]')}parameters: { type: object, properties: {} }\n`,
    );
    expect(error.keyPath).toBe('parameters');
    expect(error.message).toMatch(/takes its parameters from eng and web/);
    await writeFile(path.join(dir, 'demo', 'body.sh'), 'echo mine\n');
    error = await loadError(composed('[eng, web]'));
    expect(error.message).toMatch(/runs the bodies of eng and web; remove .*body\.sh/);
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
