// The proxy and a session's web UIs: the session's token goes upstream as Authorization (in
// place of any the client sent) on plain requests and WebSocket upgrades; the browser's cookies
// (JupyterLab's) never reach a UI, and no UI sets one; the Jupyter server's requests are
// unchanged; a token that cannot be made stops the request before it leaves the agent.
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HpcError } from '../errors.js';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { FakeSessionService, fakeRecord } from './fake-session-service.js';
import { upgradeRequestHead, upstreamHeaders } from './session-proxy.js';

const ID = 's0123456789ab';
const TOKEN = 'Bearer aGVhZGVy.cGF5bG9hZA.c2lnbmF0dXJl';
let upstream: http.Server;
let port: number;
let upstreamRequests = 0;
const sockets = new Set<Socket>();

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    upstreamRequests++;
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'planted=1; Path=/' });
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  upstream.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    sockets.add(socket);
    const seen = Buffer.from(JSON.stringify(req.headers)).toString('base64');
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen: ${seen}\r\n\r\n`,
    );
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => upstream.close(resolve));
});

/** The fake service, signing for the dashboard alone (as a Dask job's ui_auth says). */
class SigningSessions extends FakeSessionService {
  readonly signed: string[] = [];
  failSigning = false;

  webUiAuthorization(id: string, endpoint: string): Promise<string | undefined> {
    this.signed.push(`${id} ${endpoint}`);
    if (this.failSigning) {
      return Promise.reject(new HpcError('cannot read webui.key', { hint: 'restart it' }));
    }
    return Promise.resolve(endpoint === 'dashboard' ? TOKEN : undefined);
  }
}

let agent: TestAgent | undefined;
let sessions: SigningSessions;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

async function daskAgent(): Promise<TestAgent> {
  sessions = new SigningSessions();
  const started = await startTestAgent({ sessions });
  sessions.put(
    fakeRecord(ID, {
      template: 'dask',
      state: 'ready',
      connection: {
        kind: 'dask',
        endpoints: [
          { name: 'dashboard', host: '127.0.0.1', port, basePath: '/status' },
          { name: 'other-ui', host: '127.0.0.1', port },
          { name: 'jupyter', host: '127.0.0.1', port, basePath: `/sessions/${ID}/` },
        ],
      },
    }),
  );
  return started;
}

interface Seen {
  status: number;
  headers: http.IncomingHttpHeaders;
  upstream: { url: string; headers: Record<string, string | undefined> } | undefined;
}

function get(socketPath: string, path: string, headers: http.OutgoingHttpHeaders): Promise<Seen> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const body = JSON.parse(text) as Record<string, unknown>;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            upstream: 'url' in body ? (body as unknown as Seen['upstream']) : undefined,
          });
        });
      })
      .on('error', reject);
  });
}

const browser = { cookie: 'username-127-0-0-1-8888=secret', authorization: 'Bearer mine' };

describe('the proxy and web UIs', () => {
  it('sends the session token to a UI that needs it, in place of the client one, and no cookie', async () => {
    agent = await daskAgent();
    const res = await get(agent.socketPath, `/endpoints/${ID}/dashboard/status`, browser);
    expect(res.status).toBe(200);
    expect(res.upstream?.headers['authorization']).toBe(TOKEN);
    expect(res.upstream?.headers['cookie']).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(sessions.signed).toEqual([`${ID} dashboard`]);
  });

  it('adds nothing to a UI that needs no token, still without cookies', async () => {
    agent = await daskAgent();
    const res = await get(agent.socketPath, `/endpoints/${ID}/other-ui/`, browser);
    expect(res.status).toBe(200);
    expect(res.upstream?.headers['authorization']).toBe('Bearer mine');
    expect(res.upstream?.headers['cookie']).toBeUndefined();
  });

  it('leaves the Jupyter server its cookies and Authorization, and signs nothing for it', async () => {
    agent = await daskAgent();
    const res = await get(agent.socketPath, `/sessions/${ID}/api/status`, browser);
    expect(res.status).toBe(200);
    expect(res.upstream?.headers['authorization']).toBe('Bearer mine');
    expect(res.upstream?.headers['cookie']).toBe(browser.cookie);
    expect(res.headers['set-cookie']).toEqual(['planted=1; Path=/']);
    expect(sessions.signed).toEqual([]);
  });

  it('refuses the request, reaching nothing, when the token cannot be made', async () => {
    agent = await daskAgent();
    sessions.failSigning = true;
    const before = upstreamRequests;
    const res = await get(agent.socketPath, `/endpoints/${ID}/dashboard/status`, browser);
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(upstreamRequests).toBe(before);
  });

  it('upgrades a UI WebSocket with the token and without the cookie', async () => {
    agent = await daskAgent();
    const socketPath = agent.socketPath;
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(socketPath, () => {
        socket.write(
          `GET /endpoints/${ID}/dashboard/status/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n` +
            `Upgrade: websocket\r\nCookie: ${browser.cookie}\r\nAuthorization: Bearer mine\r\n\r\n`,
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
    const seen = JSON.parse(
      Buffer.from(/X-Seen: (\S+)/.exec(head)?.[1] ?? '', 'base64').toString('utf8'),
    ) as Record<string, string | undefined>;
    expect(seen['authorization']).toBe(TOKEN);
    expect(seen['cookie']).toBeUndefined();
    expect(seen['upgrade']).toBe('websocket');
  });
});

describe('upstreamHeaders and upgradeRequestHead', () => {
  const ui = {
    id: ID,
    endpoint: 'dashboard',
    path: '/status',
    context: `/endpoints/${ID}/dashboard`,
  };
  const lab = { id: ID, path: `/sessions/${ID}/lab` };

  it('change only what a UI target gets', () => {
    const headers = { cookie: 'a=1', authorization: 'Bearer mine', accept: 'text/html' };
    expect(upstreamHeaders(headers, lab, TOKEN)).toEqual(headers);
    expect(upstreamHeaders(headers, ui, TOKEN)).toEqual({
      authorization: TOKEN,
      accept: 'text/html',
    });
    expect(upstreamHeaders(headers, ui, undefined)).toEqual({
      authorization: 'Bearer mine',
      accept: 'text/html',
    });
  });

  it('re-serialize an upgrade with one Authorization, the session one', () => {
    const req = {
      method: 'GET',
      headers: { connection: 'Upgrade' },
      rawHeaders: [
        'Connection',
        'Upgrade',
        'Upgrade',
        'websocket',
        'AUTHORIZATION',
        'x',
        'Cookie',
        'c=1',
      ],
    };
    const head = upgradeRequestHead(req, ui, TOKEN);
    expect(head).toBe(
      `GET /status HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: ${TOKEN}\r\n\r\n`,
    );
    expect(upgradeRequestHead(req, lab)).toMatch(/AUTHORIZATION: x\r\nCookie: c=1\r\n\r\n$/);
  });
});
