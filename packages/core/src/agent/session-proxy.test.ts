import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeRecord, readyRecord } from './fake-session-service.js';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { endToEndHeaders, proxiedSessionId } from './session-proxy.js';

const ID = 's0123456789ab';

/** Stands in for the Jupyter server in the job: echoes requests, streams, speaks "WebSocket". */
let upstream: http.Server;
let upstreamPort: number;
const upstreamSockets = new Set<Socket>();

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url?.endsWith('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      setTimeout(() => res.end('second'), 150);
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('connection', 'close, x-upstream-hop');
      res.setHeader('x-upstream-hop', 'drop me');
      res.writeHead(req.url?.includes('missing') === true ? 404 : 200, {
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  upstream.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    upstreamSockets.add(socket);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `X-Seen-Url: ${req.url ?? ''}\r\nX-Seen-Upgrade: ${req.headers.upgrade ?? ''}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head.toString().toUpperCase());
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
    socket.on('close', () => upstreamSockets.delete(socket));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of upstreamSockets) s.destroy();
  await new Promise((resolve) => upstream.close(resolve));
});

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  chunks: { at: number; text: string }[];
}

function request(
  socketPath: string,
  path: string,
  init: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path, method: init.method ?? 'GET', headers: init.headers },
      (res) => {
        const chunks: { at: number; text: string }[] = [];
        res.setEncoding('utf8');
        res.on('data', (c: string) => chunks.push({ at: Date.now(), text: c }));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: chunks.map((c) => c.text).join(''),
            chunks,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Opens a WebSocket-style upgrade through the agent and returns the raw socket. */
function upgrade(
  socketPath: string,
  path: string,
): Promise<{ res: http.IncomingMessage; socket: Socket } | { refused: Answer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath,
      path,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' },
    });
    req.on('upgrade', (res, socket) => {
      resolve({ res, socket });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({
          refused: { status: res.statusCode ?? 0, headers: res.headers, text, chunks: [] },
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('session proxy', () => {
  it('passes HTTP requests to the session with the path unchanged and hop-by-hop headers removed', async () => {
    agent = await startTestAgent();
    agent.sessions.put(readyRecord(ID, upstreamPort));
    const res = await request(agent.socketPath, `/sessions/${ID}/api/contents?x=1&host=evil`, {
      method: 'POST',
      headers: {
        host: 'evil.example.org:1234',
        connection: 'keep-alive, x-client-hop',
        'x-client-hop': '1',
        'proxy-authorization': 'Basic abc',
        authorization: 'token t',
        'content-type': 'application/json',
      },
      body: '{"hello":"world"}',
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.text) as {
      method: string;
      url: string;
      headers: Record<string, string>;
      body: string;
    };
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe(`/sessions/${ID}/api/contents?x=1&host=evil`);
    expect(seen.body).toBe('{"hello":"world"}');
    expect(seen.headers['authorization']).toBe('token t');
    expect(seen.headers['host']).toBe('evil.example.org:1234');
    expect(seen.headers['x-client-hop']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(agent.sessions.calls).toContain(`access ${ID} jupyter`);
  });

  it("passes the session server's own status codes through", async () => {
    agent = await startTestAgent();
    agent.sessions.put(readyRecord(ID, upstreamPort));
    expect((await request(agent.socketPath, `/sessions/${ID}/missing`)).status).toBe(404);
  });

  it('streams responses instead of buffering them', async () => {
    agent = await startTestAgent();
    agent.sessions.put(readyRecord(ID, upstreamPort));
    const res = await request(agent.socketPath, `/sessions/${ID}/stream`);
    expect(res.text).toBe('first;second');
    const first = res.chunks[0];
    const last = res.chunks[res.chunks.length - 1];
    expect(first?.text).toBe('first;');
    expect((last?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(100);
  });

  it('pipes WebSocket upgrades both ways at the socket level', async () => {
    agent = await startTestAgent();
    agent.sessions.put(readyRecord(ID, upstreamPort));
    const result = await upgrade(agent.socketPath, `/sessions/${ID}/api/kernels/k1/channels`);
    if ('refused' in result) throw new Error(`refused: ${result.refused.text}`);
    expect(result.res.statusCode).toBe(101);
    expect(result.res.headers['x-seen-url']).toBe(`/sessions/${ID}/api/kernels/k1/channels`);
    expect(result.res.headers['x-seen-upgrade']).toBe('websocket');
    expect(agent.server.busy).toBe(true);
    const echoed = await new Promise<string>((resolve) => {
      result.socket.once('data', (d: Buffer) => {
        resolve(d.toString());
      });
      result.socket.write('hello kernel');
    });
    expect(echoed).toBe('HELLO KERNEL');
    result.socket.destroy();
    for (let i = 0; i < 100 && agent.server.busy; i++) await new Promise((r) => setTimeout(r, 20));
    expect(agent.server.busy).toBe(false);
    // The agent let go of the upstream side too.
    for (let i = 0; i < 50 && upstreamSockets.size > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(upstreamSockets.size).toBe(0);
  });

  it('closes proxied WebSockets when the agent closes', async () => {
    agent = await startTestAgent();
    agent.sessions.put(readyRecord(ID, upstreamPort));
    const result = await upgrade(agent.socketPath, `/sessions/${ID}/ws`);
    if ('refused' in result) throw new Error('refused');
    const closed = new Promise((resolve) => result.socket.once('close', resolve));
    await agent.close();
    agent = undefined;
    await closed;
  });

  it('refuses unknown sessions, other paths, and sessions that are not ready', async () => {
    agent = await startTestAgent();
    agent.sessions.put(fakeRecord('s00000000000q', { state: 'queued' }));
    agent.sessions.put(fakeRecord('s00000000000e', { state: 'completed' }));
    const unknown = await request(agent.socketPath, '/sessions/s00000000000x/');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({ error: { kind: 'NotFoundError' } });
    const queued = await request(agent.socketPath, '/sessions/s00000000000q/lab');
    expect(queued.status).toBe(503);
    expect(queued.headers['retry-after']).toBe('5');
    expect(JSON.parse(queued.text)).toMatchObject({ error: { kind: 'NotReadyError' } });
    expect((await request(agent.socketPath, '/sessions/s00000000000e/lab')).status).toBe(404);
    for (const path of ['/sessions/', '/sessions//x', '/sessionsX/a', '/sessions/a.b/', '/lab']) {
      expect((await request(agent.socketPath, path)).status, path).toBe(404);
    }
    const ws = await upgrade(agent.socketPath, '/v1/events');
    expect('refused' in ws && ws.refused.status).toBe(404);
    const wsUnknown = await upgrade(agent.socketPath, '/sessions/s00000000000x/ws');
    expect('refused' in wsUnknown && wsUnknown.refused.status).toBe(404);
    const wsQueued = await upgrade(agent.socketPath, '/sessions/s00000000000q/ws');
    expect('refused' in wsQueued && wsQueued.refused.status).toBe(503);
    // Never asked for a tunnel to anything.
    expect(agent.sessions.calls.filter((c) => c.startsWith('access'))).toEqual([]);
  });

  it("answers 502 when the session's server does not answer", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    agent = await startTestAgent();
    agent.sessions.put(readyRecord(ID, deadPort));
    const res = await request(agent.socketPath, `/sessions/${ID}/lab`);
    expect(res.status).toBe(502);
    const ws = await upgrade(agent.socketPath, `/sessions/${ID}/ws`);
    expect('refused' in ws && ws.refused.status).toBe(502);
  });
});

describe('proxy helpers', () => {
  it('extracts only well-formed session ids from origin-form paths', () => {
    expect(proxiedSessionId('/sessions/s1/lab?x')).toBe('s1');
    expect(proxiedSessionId('/sessions/s1')).toBe('s1');
    expect(proxiedSessionId('/sessions/s1?token=x')).toBe('s1');
    expect(proxiedSessionId('http://evil/sessions/s1/')).toBeUndefined();
    expect(proxiedSessionId('/sessions/%2e%2e/')).toBeUndefined();
    expect(proxiedSessionId('/v1/sessions/s1')).toBeUndefined();
  });

  it('drops headers named in Connection as well as the standard hop-by-hop ones', () => {
    expect(
      endToEndHeaders({
        connection: 'X-Foo, close',
        'x-foo': '1',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        cookie: 'c=1',
      }),
    ).toEqual({ cookie: 'c=1' });
  });
});
