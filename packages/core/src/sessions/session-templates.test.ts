/**
 * The session manager with the real templates module (loader, validation, renderer, the shared
 * shell runtime) on the local scheduler. The template is a small one of ours, since the real
 * Jupyter and kernel templates need JupyterLab and ipykernel, which the end-to-end suites have.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { BUILTIN_TEMPLATES_DIR } from '../templates/index.js';
import { templateRenderer } from './job-renderer.js';
import { SessionManager } from './session-manager.js';
import { clusterSource, eventually, localCluster } from './test-kit.js';
import type { OpenCluster } from '../clusters/connections.js';

const MANIFEST = `
name: echo
title: Echo server
description: A stand-in for a Jupyter server that serves nothing.
kind: server
parameters:
  type: object
  properties:
    partition: { $ref: ../common/parameters.yaml#/partition }
    hours: { $ref: ../common/parameters.yaml#/hours }
    port: { type: integer, title: Port, description: The port to publish., minimum: 1, maximum: 65535 }
  required: [port]
resources:
  walltimeMinutes: { param: hours, scale: 60 }
  partition: partition
`;
const BODY = `
hpcj_require_secret_file "$PWD/token" "the token" || exit 1
hpcj_write_connection "$(hpcj_json kind=jupyter host=127.0.0.1 port:="$HPCJ_PARAM_PORT" \\
  baseUrl="/sessions/$HPCJ_SESSION_ID/" node="$(hpcj_node_name)")" || exit 1
sleep 300 &
wait "$!"
`;

let root: string;
let cluster: OpenCluster;
let manager: SessionManager | undefined;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-templates-'));
  const templates = path.join(root, 'templates');
  await cp(path.join(BUILTIN_TEMPLATES_DIR, 'runtime'), path.join(templates, 'runtime'), {
    recursive: true,
  });
  await cp(path.join(BUILTIN_TEMPLATES_DIR, 'common'), path.join(templates, 'common'), {
    recursive: true,
  });
  await mkdir(path.join(templates, 'echo'));
  await writeFile(path.join(templates, 'echo', 'manifest.yaml'), MANIFEST);
  await writeFile(path.join(templates, 'echo', 'body.sh'), BODY);
  const local = localCluster(root);
  cluster = { ...local, config: { ...local.config, defaults: { partition: 'local' } } };
});

afterEach(async () => {
  await manager?.close();
  const jobs = await cluster.scheduler.listJobs('hpcj-');
  await cluster.scheduler.cancel(jobs.map((j) => j.id));
  await eventually(async () => (await cluster.scheduler.listJobs('hpcj-')).length === 0);
  await cluster.transport.close();
  await rm(root, { recursive: true, force: true });
});

describe('sessions from real templates', () => {
  it('renders, submits and becomes ready; values travel in job.env, the token only in its file', async () => {
    manager = await SessionManager.open({
      clusters: clusterSource({ local: cluster }),
      renderer: templateRenderer(path.join(root, 'templates')),
      stateDir: path.join(root, 'state'),
      intervals: { busyMs: 50 },
    });
    const s = await manager.start({
      cluster: 'local',
      template: 'echo',
      params: { port: 8123, hours: 0.5 },
    });
    // The cluster's default partition fills the template's unset partition parameter.
    expect(s.params).toMatchObject({ port: 8123, hours: 0.5, partition: 'local' });
    expect(s.title).toBe('Echo server on local (1 node, 30 min)');
    const ready = await manager.waitFor(s.id, (r) => r.state === 'ready', { timeout: 15_000 });
    expect(ready.connection).toMatchObject({
      kind: 'jupyter',
      node: os.hostname(),
      endpoints: [
        { name: 'jupyter', host: '127.0.0.1', port: 8123, basePath: `/sessions/${s.id}/` },
      ],
    });
    const dir = s.sessionDir as string;
    const env = await readFile(path.join(dir, 'job.env'), 'utf8');
    expect(env).toContain('8123');
    const token = (await manager.secret(s.id)) as string;
    for (const file of ['job.env', 'job.log', 'connection.json', 'session.json']) {
      expect(await readFile(path.join(dir, file), 'utf8')).not.toContain(token);
    }
    const log = await manager.logs(s.id);
    expect(log).toContain('ready: wrote connection.json');
  });

  it('reports parameter problems from the template before anything is written', async () => {
    manager = await SessionManager.open({
      clusters: clusterSource({ local: cluster }),
      renderer: templateRenderer(path.join(root, 'templates')),
      stateDir: path.join(root, 'state'),
    });
    await expect(
      manager.start({ cluster: 'local', template: 'echo', params: { port: 0 } }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(manager.start({ cluster: 'local', template: 'jupyterr' })).rejects.toMatchObject({
      message: 'No template named "jupyterr".',
      hint: 'Templates: echo.',
    });
    expect(manager.list()).toEqual([]);
  });
});
