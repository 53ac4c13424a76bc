// What the card offers for engine sessions (dashboards, client code), where inserted code goes in
// a notebook, what a drag carries, and the agent calls behind them.
import { describe, expect, it } from 'vitest';
import { AgentApi, type FetchLike } from './agent-api.js';
import { session } from './fixtures.testutil.js';
import { dragCells, JUPYTER_CELL_MIME, placeFor } from './notebook-insert.js';
import { cardActions, clientCode, dashboards } from './session-format.js';

const daskReady = session({
  id: 's0123456789ab',
  template: 'dask',
  state: 'ready',
  title: 'Dask cluster on testlab (4 nodes)',
  connection: {
    kind: 'dask',
    endpoints: [
      { name: 'scheduler', host: '10.0.0.1', port: 8786 },
      { name: 'dashboard', host: '10.0.0.1', port: 8787, basePath: '/status' },
    ],
  },
});

describe('engine session cards', () => {
  it('offer the Dask dashboard at its base path and client code once ready', () => {
    expect(dashboards(daskReady)).toEqual([
      { endpoint: 'dashboard', label: 'Dask dashboard', path: '/status' },
    ]);
    const actions = cardActions(daskReady);
    expect(actions.insertClient).toBe(true);
    expect(actions.open).toBe(false);
    const queued = { ...daskReady, state: 'queued' as const };
    expect(dashboards(queued)).toEqual([]);
    expect(cardActions(queued).insertClient).toBe(false);
    expect(clientCode(queued)).toBeUndefined();
  });

  it('names the Spark UIs, and offers client code only for a Spark Connect server, none for Jupyter', () => {
    const spark = session({
      template: 'spark',
      state: 'ready',
      connection: {
        kind: 'spark',
        endpoints: [
          { name: 'master', host: 'n1', port: 7077 },
          { name: 'master-ui', host: 'n1', port: 8080 },
          { name: 'app-ui', host: 'n1', port: 4040 },
        ],
      },
    });
    expect(dashboards(spark).map((d) => [d.label, d.path])).toEqual([
      ['Spark master UI', '/'],
      ['Spark application UI', '/'],
    ]);
    expect(clientCode(spark)).toBeUndefined();
    expect(clientCode(session({ state: 'ready' }))).toBeUndefined();
    const connect = {
      ...spark,
      id: 's0123456789cd',
      connection: {
        kind: 'spark',
        endpoints: [
          ...(spark.connection?.endpoints ?? []),
          { name: 'connect', host: 'n1', port: 15002 },
        ],
      },
    };
    expect(clientCode(connect)?.split('\n').slice(1)).toEqual([
      'from hpc_jupyter.client import spark as hpc_spark',
      '',
      'spark = hpc_spark("s0123456789cd")',
      'spark',
    ]);
    expect(cardActions(connect).insertClient).toBe(true);
  });

  it('writes client code that names only the session id, one title line as a comment', () => {
    const code = clientCode({ ...daskReady, title: 'evil\nimport os' }) ?? '';
    expect(code.split('\n')).toEqual([
      '# evil import os: `client` through the hpc-jupyter agent',
      'from hpc_jupyter.client import dask as hpc_dask',
      '',
      'client = hpc_dask("s0123456789ab")',
      'client',
    ]);
    const ipp = clientCode({
      ...daskReady,
      template: 'ipyparallel',
      connection: { kind: 'ipyparallel', endpoints: [] },
    });
    expect(ipp).toContain('rc = hpc_ipyparallel("s0123456789ab")');
    expect(clientCode({ ...daskReady, id: 'x"); import os; ("' })).toBeUndefined();
  });
});

describe('inserting into a notebook', () => {
  it('fills an empty active code cell, else goes below the active cell', () => {
    const empty = [{ cell_type: 'code', source: '  ' }];
    expect(placeFor(empty, 0)).toBe(0);
    const full = [
      { cell_type: 'code', source: 'x = 1' },
      { cell_type: 'markdown', source: '' },
    ];
    expect(placeFor(full, 0)).toBe(1);
    expect(placeFor(full, 1)).toBe(2);
    expect(placeFor([], -1)).toBe(0);
  });

  it('drags one code cell in the notebook’s own MIME type', () => {
    expect(JUPYTER_CELL_MIME).toBe('application/vnd.jupyter.cells');
    expect(dragCells('print(1)')).toEqual([
      { cell_type: 'code', source: 'print(1)', metadata: {} },
    ]);
  });
});

describe('AgentApi for engines and kernels', () => {
  it('attaches, installs kernels, and addresses endpoints under the proxy', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetch: FetchLike = (url, init) => {
      calls.push({ url, init });
      return Promise.resolve(new Response('{"ok":true}', { status: 200 }));
    };
    const api = new AgentApi('/user/a/', fetch);
    expect(api.endpointUrl('s1', 'dashboard', '/status')).toBe(
      '/user/a/hpc-jupyter/endpoints/s1/dashboard/status',
    );
    expect(api.endpointUrl('s1', 'master-ui')).toBe('/user/a/hpc-jupyter/endpoints/s1/master-ui/');
    await api.attach('s1');
    await api.installKernel({ displayName: 'K', cluster: 'c', template: 'kernel', params: {} });
    expect(calls.map((c) => `${c.init.method ?? ''} ${c.url}`)).toEqual([
      'POST /user/a/hpc-jupyter/v1/sessions/s1/attach',
      'POST /user/a/hpc-jupyter/v1/kernelspecs',
    ]);
    expect(JSON.parse(calls[1]?.init.body as string)).toEqual({
      displayName: 'K',
      cluster: 'c',
      template: 'kernel',
      params: {},
    });
  });
});
