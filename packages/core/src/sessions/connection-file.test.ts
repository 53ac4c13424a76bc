import { describe, expect, it } from 'vitest';
import { parseConnectionFile, withoutSecrets } from './connection-file.js';

function ok(text: string, kind = 'jupyter') {
  const parsed = parseConnectionFile(text, kind);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.connection;
}

describe('parseConnectionFile', () => {
  it('marks every kernel endpoint as behind the TLS relay, with its files and name', () => {
    const c = ok(
      JSON.stringify({
        kind: 'kernel',
        ip: '10.77.0.12',
        transport: 'tcp',
        signature_scheme: 'hmac-sha256',
        shell_port: 5001,
        iopub_port: 5002,
        stdin_port: 5003,
        control_port: 5004,
        hb_port: 5005,
        node: 'node2',
        tls: { ca: 'kernel-tls/ca.pem', cert: 'kernel-tls/cert.pem', key: 'kernel-tls/key.pem' },
      }),
      'kernel',
    );
    const tls = {
      caFile: 'kernel-tls/ca.pem',
      certFile: 'kernel-tls/cert.pem',
      keyFile: 'kernel-tls/key.pem',
      serverName: 'node2',
    };
    expect(c.endpoints.map((e) => e.tls)).toEqual([tls, tls, tls, tls, tls]);
    // The file names are no secret, but the raw copy keeps nothing that looks like one.
    expect(c.raw?.['tls']).toEqual({ ca: 'kernel-tls/ca.pem' });
  });

  it('puts TLS on the listed endpoints that ask for it, and checks the files stay inside', () => {
    const text = (files: Record<string, unknown>, flag: unknown = true): string =>
      JSON.stringify({
        kind: 'dask',
        host: '10.77.0.11',
        node: 'node1',
        tls: { server_name: 'node1.cluster', ...files },
        endpoints: [
          { name: 'scheduler', port: 8786, tls: flag },
          { name: 'dashboard', port: 8787 },
        ],
      });
    const files = { ca: 'relay/ca.pem', cert: 'relay/cert.pem', key: 'relay/key.pem' };
    const c = ok(text(files), 'dask');
    expect(c.endpoints[0]?.tls).toEqual({
      caFile: 'relay/ca.pem',
      certFile: 'relay/cert.pem',
      keyFile: 'relay/key.pem',
      serverName: 'node1.cluster',
    });
    expect(c.endpoints[1]?.tls).toBeUndefined();
    for (const bad of ['../ca.pem', '/etc/ssl/ca.pem', 'a/../../ca.pem', './ca.pem', '']) {
      const parsed = parseConnectionFile(text({ ...files, ca: bad }), 'dask');
      expect(parsed.ok, bad).toBe(false);
    }
    expect(parseConnectionFile(text(files, 'yes'), 'dask').ok).toBe(false);
  });

  it('reads what the jupyter template writes', () => {
    const c = ok(
      JSON.stringify({
        kind: 'jupyter',
        host: '10.77.0.11',
        port: 41234,
        baseUrl: '/sessions/s0123456789ab/',
        pid: 42,
        node: 'node1',
      }),
    );
    expect(c.kind).toBe('jupyter');
    expect(c.node).toBe('node1');
    expect(c.endpoints).toEqual([
      { name: 'jupyter', host: '10.77.0.11', port: 41234, basePath: '/sessions/s0123456789ab/' },
    ]);
    expect(c.raw).toMatchObject({ pid: 42 });
  });

  it('reads what the kernel template writes, one endpoint per channel, without the key', () => {
    const c = ok(
      JSON.stringify({
        kind: 'kernel',
        ip: 'node2',
        transport: 'tcp',
        signature_scheme: 'hmac-sha256',
        key: 'SECRET',
        shell_port: 5001,
        iopub_port: 5002,
        stdin_port: 5003,
        control_port: 5004,
        hb_port: 5005,
      }),
      'kernel',
    );
    expect(c.kernelPorts).toEqual({
      shell: 5001,
      iopub: 5002,
      stdin: 5003,
      control: 5004,
      hb: 5005,
    });
    expect(c.endpoints.map((e) => [e.name, e.host, e.port])).toEqual([
      ['kernel', 'node2', 5001],
      ['kernel-iopub', 'node2', 5002],
      ['kernel-stdin', 'node2', 5003],
      ['kernel-control', 'node2', 5004],
      ['kernel-hb', 'node2', 5005],
    ]);
    expect(JSON.stringify(c)).not.toContain('SECRET');
    expect(c.raw).toMatchObject({ signature_scheme: 'hmac-sha256' });
  });

  it('reads a list of endpoints, inheriting the top-level host', () => {
    const c = ok(
      JSON.stringify({
        kind: 'dask',
        host: 'node3',
        endpoints: [
          { name: 'dask-scheduler', port: 8786 },
          { name: 'dask-dashboard', port: 8787, base_path: '/status' },
        ],
      }),
    );
    expect(c.endpoints).toEqual([
      { name: 'dask-scheduler', host: 'node3', port: 8786 },
      { name: 'dask-dashboard', host: 'node3', port: 8787, basePath: '/status' },
    ]);
  });

  it.each([
    ['not json', '{'],
    ['not an object', '[1]'],
    ['no port', '{"host": "n1"}'],
    ['port out of range', '{"host": "n1", "port": 70000}'],
    ['a host with a space', '{"host": "n1 -oProxyCommand=x", "port": 8888}'],
    ['a host that is a URL', '{"host": "http://evil", "port": 8888}'],
    ['a relative base path', '{"host": "n1", "port": 8888, "baseUrl": "x/"}'],
    [
      'a kernel port missing',
      '{"kind": "kernel", "ip": "n1", "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4}',
    ],
    [
      'duplicate endpoint names',
      '{"host": "n", "endpoints": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}',
    ],
  ])('refuses %s', (_what, text) => {
    const parsed = parseConnectionFile(text, 'jupyter');
    expect(parsed.ok).toBe(false);
  });

  it('drops secret-looking fields at any depth', () => {
    expect(
      withoutSecrets({ a: 1, token: 't', nested: { password: 'p', b: [{ api_key: 'k', c: 2 }] } }),
    ).toEqual({ a: 1, nested: { b: [{ c: 2 }] } });
  });
});
