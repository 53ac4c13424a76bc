// Scaling a Dask or ipyparallel cluster from its card, as `%cluster scale N` does it
// (hpc_jupyter/magics.py): which extra sessions count, what is started or stopped, and what the
// card says; and what Copy on a card copies.
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from './agent-types.js';
import { session } from './fixtures.testutil.js';
import {
  accessPageUrl,
  cardActions,
  extraWorkers,
  parseNodeCount,
  scalePlan,
  workerNodes,
} from './session-format.js';

const BASE = 's0123456789ab';

const dask = session({
  id: BASE,
  template: 'dask',
  state: 'ready',
  params: { nodes: 4, hours: 2 },
  nodes: ['n1', 'n2', 'n3', 'n4'],
  connection: { kind: 'dask', endpoints: [{ name: 'scheduler', host: 'n1', port: 8786 }] },
});

let serial = 0;
/** An extra worker session of `dask` asking for `nodes` nodes, created at minute `minute`. */
function workers(nodes: number, minute: number, over: Partial<SessionRecord> = {}): SessionRecord {
  serial += 1;
  return session({
    id: `s${String(serial).padStart(12, '0')}`,
    template: 'dask-workers',
    state: 'ready',
    params: { cluster: BASE, nodes },
    createdAt: `2026-01-01T10:${String(minute).padStart(2, '0')}:00.000Z`,
    ...over,
  });
}

describe('the worker nodes of a Dask cluster', () => {
  it('counts its own nodes and the live extra worker sessions that joined it', () => {
    const live = [workers(2, 1), workers(1, 2, { state: 'queued' })];
    const unknown = workers(1, 3, { state: 'unknown' });
    const gone = [
      workers(8, 4, { state: 'stopping' }),
      workers(8, 5, { state: 'cancelled' }),
      workers(8, 6, { state: 'failed' }),
      workers(8, 7, { params: { cluster: 's0000000000ff', nodes: 8 } }),
      session({ template: 'dask', state: 'ready', params: { cluster: BASE, nodes: 8 } }),
    ];
    const all = [dask, ...live, unknown, ...gone];
    expect(extraWorkers(dask, all).map((r) => r.id)).toEqual([...live, unknown].map((r) => r.id));
    expect(workerNodes(dask, all)).toBe(4 + 2 + 1 + 1);
  });

  it('takes the nodes asked for while no node list is known, 1 when unset', () => {
    const noList = { ...dask, nodes: undefined, params: { nodes: 3 } };
    expect(workerNodes(noList, [noList, workers(2, 1, { params: { cluster: BASE } })])).toBe(4);
  });
});

describe('scalePlan', () => {
  it('scales 4 up to 8 with one dask-workers session, hours taken from the cluster', () => {
    expect(scalePlan(dask, [dask], 8)).toEqual({
      template: 'dask-workers',
      start: { cluster: BASE, nodes: 4, hours: 2 },
      stop: [],
      summary: 'Adding 4 nodes of workers in a new job.',
    });
    const noHours = { ...dask, params: { nodes: 4 } };
    expect(scalePlan(noHours, [noHours], 5).start).toEqual({ cluster: BASE, nodes: 1 });
  });

  it("gives the extra workers the cluster's own per-node shape and placement, nothing else", () => {
    const shaped = {
      ...dask,
      params: {
        nodes: 4,
        partition: 'short',
        cpusPerTask: 1,
        memoryGiB: 0.5,
        workersPerNode: 2,
        threadsPerWorker: 1,
        startTimeoutSeconds: 60,
      },
    };
    expect(scalePlan(shaped, [shaped], 5).start).toEqual({
      cluster: BASE,
      nodes: 1,
      partition: 'short',
      cpusPerTask: 1,
      memoryGiB: 0.5,
      workersPerNode: 2,
      threadsPerWorker: 1,
    });
  });

  it('adds only the missing nodes when extra workers already run', () => {
    const all = [dask, workers(2, 1)];
    expect(scalePlan(dask, all, 8).start).toEqual({ cluster: BASE, nodes: 2, hours: 2 });
  });

  it('scales 8 back down to 4 by stopping the extra session', () => {
    const extra = workers(4, 1);
    expect(scalePlan(dask, [extra, dask], 4)).toEqual({
      stop: [extra.id],
      summary: 'Stopping 1 worker job.',
    });
  });

  it('stops the newest extra sessions first, skipping one that would go below N', () => {
    const older = workers(2, 1);
    const middle = workers(4, 2);
    const newest = workers(1, 3);
    const all = [dask, older, middle, newest];
    expect(scalePlan(dask, all, 6)).toEqual({
      stop: [newest.id, middle.id],
      summary: 'Stopping 2 worker jobs.',
    });
    const small = workers(1, 1);
    const big = workers(4, 2);
    expect(scalePlan(dask, [dask, small, big], 7)).toEqual({
      stop: [small.id],
      summary: 'Stopping 1 worker job.',
      note: '8 nodes of workers remain: extra worker jobs stop whole.',
    });
  });

  it('keeps the Dask session’s own nodes, and says so', () => {
    const extra = workers(4, 1);
    expect(scalePlan(dask, [dask, extra], 2)).toEqual({
      stop: [extra.id],
      summary: 'Stopping 1 worker job.',
      note: "4 nodes of workers remain: the Dask session's own 4 nodes cannot go.",
    });
    expect(scalePlan(dask, [dask], 1)).toEqual({
      stop: [],
      summary: '',
      note: "4 nodes of workers remain: the Dask session's own 4 nodes cannot go.",
    });
  });

  it('does nothing at the current size, and ignores sessions already stopping', () => {
    expect(scalePlan(dask, [dask, workers(4, 1)], 8)).toEqual({
      stop: [],
      summary: '',
      note: 'Already 8 nodes of workers.',
    });
    const stopping = workers(4, 2, { state: 'stopping' });
    expect(scalePlan(dask, [dask, stopping], 8).start).toEqual({
      cluster: BASE,
      nodes: 4,
      hours: 2,
    });
  });
});

describe('scaling an ipyparallel cluster', () => {
  const ipp = session({
    id: BASE,
    template: 'ipyparallel',
    state: 'ready',
    params: { nodes: 4, hours: 1, cpusPerTask: 1, enginesPerNode: 2, startTimeoutSeconds: 60 },
    nodes: ['n1', 'n2', 'n3', 'n4'],
    connection: { kind: 'ipyparallel', endpoints: [{ name: 'controller', host: 'n1', port: 1 }] },
  });
  const engines = (nodes: number, minute: number, over: Partial<SessionRecord> = {}) =>
    workers(nodes, minute, { template: 'ipyparallel-engines', ...over });

  it('scales 4 up to 8 with one ipyparallel-engines session of the same shape', () => {
    expect(scalePlan(ipp, [ipp], 8)).toEqual({
      template: 'ipyparallel-engines',
      start: { cluster: BASE, nodes: 4, hours: 1, cpusPerTask: 1, enginesPerNode: 2 },
      stop: [],
      summary: 'Adding 4 nodes of engines in a new job.',
    });
  });

  it('counts its extra engine sessions only, not Dask workers that name it', () => {
    const extra = engines(4, 1);
    const all = [ipp, extra, workers(2, 2)];
    expect(extraWorkers(ipp, all).map((r) => r.id)).toEqual([extra.id]);
    expect(workerNodes(ipp, all)).toBe(8);
    expect(scalePlan(ipp, all, 8).note).toBe('Already 8 nodes of engines.');
  });

  it('scales 8 back down to 4 by stopping the newest engine sessions', () => {
    const older = engines(2, 1);
    const newer = engines(2, 2);
    expect(scalePlan(ipp, [ipp, older, newer], 6)).toEqual({
      stop: [newer.id],
      summary: 'Stopping 1 engine job.',
    });
    expect(scalePlan(ipp, [ipp, older, newer], 4)).toEqual({
      stop: [newer.id, older.id],
      summary: 'Stopping 2 engine jobs.',
    });
    expect(scalePlan(ipp, [ipp], 2).note).toBe(
      "4 nodes of engines remain: the ipyparallel session's own 4 nodes cannot go.",
    );
  });

  it('offers Scale on a ready ipyparallel session, not on its extra sessions', () => {
    expect(cardActions(ipp).scale).toBe(true);
    expect(cardActions({ ...ipp, state: 'starting' }).scale).toBe(false);
    expect(cardActions(engines(2, 1)).scale).toBe(false);
  });

  it('plans nothing for a session that does not scale', () => {
    const spark = session({ template: 'spark', state: 'ready', params: { nodes: 4 } });
    expect(scalePlan(spark, [spark], 8)).toEqual({
      stop: [],
      summary: '',
      note: 'A spark session does not scale.',
    });
  });
});

describe('the scale control’s node count', () => {
  it('takes a whole number of at least 1', () => {
    expect(parseNodeCount('8')).toEqual({ nodes: 8 });
    expect(parseNodeCount(' 3 ')).toEqual({ nodes: 3 });
    for (const bad of ['', '0', '-1', '1.5', '1e3', 'abc', '99999999999999999999']) {
      expect(parseNodeCount(bad)).toEqual({ error: 'Enter a whole number of nodes, at least 1.' });
    }
  });
});

describe('scale and copy on the cards', () => {
  it('offers Scale on a ready Dask session, not on its extra sessions', () => {
    expect(cardActions(dask).scale).toBe(true);
    expect(cardActions({ ...dask, state: 'queued' }).scale).toBe(false);
    expect(cardActions({ ...dask, state: 'stopping' }).scale).toBe(false);
    expect(cardActions(workers(2, 1)).scale).toBe(false);
  });

  it('copies client code for engines and the access URL for Jupyter servers', () => {
    expect(cardActions(dask).copy).toBe('client-code');
    const jupyter = session({
      state: 'ready',
      connection: { kind: 'jupyter', endpoints: [{ name: 'jupyter', host: 'n1', port: 1 }] },
    });
    expect(cardActions(jupyter).copy).toBe('url');
    expect(cardActions({ ...jupyter, state: 'stopping' }).copy).toBeUndefined();
    const spark = session({
      template: 'spark',
      state: 'ready',
      connection: { kind: 'spark', endpoints: [{ name: 'master', host: 'n1', port: 7077 }] },
    });
    expect(cardActions(spark).copy).toBeUndefined();
  });

  it('builds the URL Open and Copy use, with the token in the query', () => {
    const access = {
      url: 'http://127.0.0.1:40001/sessions/s1/',
      localHost: '127.0.0.1',
      localPort: 40001,
      endpoint: { name: 'jupyter', host: 'n1', port: 8888 },
    };
    expect(accessPageUrl({ ...access, token: 'a b&c' })).toBe(
      'http://127.0.0.1:40001/sessions/s1/lab?token=a%20b%26c',
    );
    expect(accessPageUrl(access)).toBe('http://127.0.0.1:40001/sessions/s1/lab');
  });
});
