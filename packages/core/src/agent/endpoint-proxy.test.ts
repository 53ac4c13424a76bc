// `/endpoints/{id}/{name}/...`: one named endpoint of a session, its prefix taken off the path
// and named in the forwarded-context headers, redirects kept below it, WebSockets too.
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { fakeRecord } from './fake-session-service.js';
import { forwardedContext, proxiedTarget } from './session-proxy.js';

const ID = 's0123456789ab';
let upstream: http.Server;
let port: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(302, { location: '/status' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  upstream.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    sockets.add(socket);
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-Url: ${req.url ?? ''}\r\n\r\n`,
    );
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => upstream.close(resolve));
});

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

async function daskAgent(): Promise<TestAgent> {
  const started = await startTestAgent();
  started.sessions.put(
    fakeRecord(ID, {
      template: 'dask',
      state: 'ready',
      connection: {
        kind: 'dask',
        endpoints: [
          { name: 'scheduler', host: '127.0.0.1', port: 1 },
          { name: 'dashboard', host: '127.0.0.1', port, basePath: '/status' },
        ],
      },
    }),
  );
  return started;
}

function get(
  socketPath: string,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
      })
      .on('error', reject);
  });
}

describe('proxiedTarget', () => {
  it('parses both prefixes and refuses anything else', () => {
    expect(proxiedTarget('/sessions/s1/lab?x')).toEqual({ id: 's1', path: '/sessions/s1/lab?x' });
    expect(proxiedTarget('/endpoints/s1/dashboard/status?a=1')).toEqual({
      id: 's1',
      endpoint: 'dashboard',
      path: '/status?a=1',
      context: '/endpoints/s1/dashboard',
    });
    expect(proxiedTarget('/endpoints/s1/dashboard')?.path).toBe('/');
    expect(proxiedTarget('/endpoints/s1/dashboard?x=1')?.path).toBe('/?x=1');
    expect(proxiedTarget('/endpoints/s1')).toBeUndefined();
    expect(proxiedTarget('/endpoints/s1/a.b/x')).toBeUndefined();
    expect(proxiedTarget('/v1/sessions')).toBeUndefined();
  });

  it('puts the outer proxy context first, and ignores a malformed one', () => {
    const target = { id: 's1', endpoint: 'd', path: '/', context: '/endpoints/s1/d' };
    expect(forwardedContext({ 'x-forwarded-context': '/hpc-jupyter/' }, target)).toBe(
      '/hpc-jupyter/endpoints/s1/d',
    );
    expect(forwardedContext({ 'x-forwarded-context': 'http://evil/' }, target)).toBe(
      '/endpoints/s1/d',
    );
    expect(forwardedContext({}, { id: 's1', path: '/sessions/s1/' })).toBeUndefined();
  });
});

describe('endpoint proxy', () => {
  it('reaches the named endpoint at its root, with the context headers', async () => {
    agent = await daskAgent();
    const res = await get(agent.socketPath, `/endpoints/${ID}/dashboard/status?x=1`, {
      'x-forwarded-context': '/user/hpc-jupyter',
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.text) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/status?x=1');
    const context = `/user/hpc-jupyter/endpoints/${ID}/dashboard`;
    expect(seen.headers['x-forwarded-context']).toBe(context);
    expect(seen.headers['x-forwarded-prefix']).toBe(context);
    expect(seen.headers['x-proxycontextpath']).toBe(context);
  });

  it('keeps root-relative redirects below the prefix', async () => {
    agent = await daskAgent();
    const res = await get(agent.socketPath, `/endpoints/${ID}/dashboard/`, {
      'x-forwarded-context': '/hpc-jupyter',
    });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/hpc-jupyter/endpoints/${ID}/dashboard/status`);
  });

  it('answers 404 for an endpoint the session does not have, and 503 before ready', async () => {
    agent = await daskAgent();
    expect((await get(agent.socketPath, `/endpoints/${ID}/jupyter/`)).status).toBe(404);
    expect((await get(agent.socketPath, `/endpoints/s000000000000/dashboard/`)).status).toBe(404);
    agent.sessions.put(fakeRecord('s0000000000ff', { template: 'dask', state: 'queued' }));
    expect((await get(agent.socketPath, `/endpoints/s0000000000ff/dashboard/`)).status).toBe(503);
  });

  it('upgrades WebSockets with the prefix taken off', async () => {
    agent = await daskAgent();
    const socketPath = agent.socketPath;
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(socketPath, () => {
        socket.write(
          `GET /endpoints/${ID}/dashboard/status/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        );
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.on('close', () => {
        resolve(text);
      });
      socket.on('error', reject);
    });
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    expect(head).toMatch(/X-Seen-Url: \/status\/ws\r\n/);
  });
});
