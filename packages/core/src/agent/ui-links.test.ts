// Capability links to web UIs: the store (256-bit links, bound to a session and endpoint,
// revoked, expiring when idle, bounded), and the agent serving `/ui/<link>/...` as the granted
// endpoint, refusing every other link without naming it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { fakeRecord } from './fake-session-service.js';
import {
  redactUiLink,
  uiLinkIdleMs,
  uiLinkTarget,
  UiLinks,
  UI_LINK_IDLE_ENV,
  UI_LINK_IDLE_MS,
} from './ui-links.js';

describe('UiLinks', () => {
  it('mints 256-bit base64url links, each different, bound to its session and endpoint', () => {
    const links = new UiLinks();
    const a = links.mint('s1', 'dashboard');
    const b = links.mint('s1', 'dashboard');
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(b).not.toBe(a);
    expect(links.resolve(a)).toEqual({ id: 's1', endpoint: 'dashboard' });
    expect(links.resolve(b)).toEqual({ id: 's1', endpoint: 'dashboard' });
  });

  it('refuses a wrong link: one character off, truncated, padded, empty', () => {
    const links = new UiLinks();
    const a = links.mint('s1', 'dashboard');
    const flipped = `${a.slice(0, -1)}${a.endsWith('A') ? 'B' : 'A'}`;
    for (const wrong of [flipped, a.slice(1), `${a}=`, `${a}x`, '', 'x'.repeat(43)]) {
      expect(links.resolve(wrong)).toBeUndefined();
    }
    expect(links.resolve(a)).toBeDefined();
  });

  it('revokes one link, and every link of a session when it ends or is removed', () => {
    const links = new UiLinks();
    const a = links.mint('s1', 'dashboard');
    const b = links.mint('s1', 'master-ui');
    const c = links.mint('s2', 'dashboard');
    expect(links.revoke(a)).toBe(true);
    expect(links.revoke(a)).toBe(false);
    expect(links.resolve(a)).toBeUndefined();
    links.onEvent({ type: 'session', session: fakeRecord('s1', { state: 'completed' }) });
    expect(links.resolve(b)).toBeUndefined();
    links.onEvent({ type: 'session', session: fakeRecord('s2', { state: 'ready' }) });
    expect(links.resolve(c)).toBeDefined();
    links.onEvent({ type: 'session-removed', id: 's2' });
    expect(links.resolve(c)).toBeUndefined();
    expect(links.size).toBe(0);
  });

  it('expires a link left idle, and each use keeps it alive', () => {
    let now = 1_000_000;
    const links = new UiLinks({ now: () => now });
    const a = links.mint('s1', 'dashboard');
    const b = links.mint('s1', 'dashboard');
    now += UI_LINK_IDLE_MS - 1;
    expect(links.resolve(a)).toBeDefined();
    now += UI_LINK_IDLE_MS - 1;
    expect(links.resolve(a)).toBeDefined();
    expect(links.resolve(b)).toBeUndefined();
    now += UI_LINK_IDLE_MS + 1;
    expect(links.resolve(a)).toBeUndefined();
    expect(links.size).toBe(0);
  });

  it('takes its idle time from the environment, whole seconds only', () => {
    expect(uiLinkIdleMs({ [UI_LINK_IDLE_ENV]: '8' })).toBe(8000);
    for (const bad of ['0', '-1', '1.5', 'x', ''])
      expect(uiLinkIdleMs({ [UI_LINK_IDLE_ENV]: bad })).toBe(UI_LINK_IDLE_MS);
    expect(new UiLinks({ idleMs: 8000 }).idleSeconds).toBe(8);
  });

  it('holds at most `max` links, forgetting the least recently used', () => {
    const links = new UiLinks({ max: 3 });
    const [a, b, c] = [links.mint('s', 'e'), links.mint('s', 'e'), links.mint('s', 'e')];
    expect(links.resolve(a)).toBeDefined();
    const d = links.mint('s', 'e');
    expect(links.size).toBe(3);
    expect(links.resolve(b)).toBeUndefined();
    for (const live of [a, c, d]) expect(links.resolve(live)).toBeDefined();
  });

  it('maps /ui/<link>/rest to the endpoint, and redacts the link from paths', () => {
    const links = new UiLinks();
    const a = links.mint('s1', 'dashboard');
    expect(uiLinkTarget(`/ui/${a}/status?x=1`, links)).toEqual({
      id: 's1',
      endpoint: 'dashboard',
      path: '/status?x=1',
      context: '',
    });
    expect(uiLinkTarget(`/ui/${a}`, links)?.path).toBe('/');
    expect(uiLinkTarget(`/ui/${'A'.repeat(43)}/status`, links)).toBeUndefined();
    expect(redactUiLink(`/ui/${a}/status`)).toBe('/ui/(link)/status');
    expect(redactUiLink('/v1/sessions')).toBe('/v1/sessions');
  });
});

const ID = 's0123456789ab';
let upstream: http.Server;
let port: number;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'ui=1; Path=/' });
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => upstream.close(resolve));
});

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

function request(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path,
        headers: {
          ...headers,
          'x-hpc-jupyter': '1',
          ...(data === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function daskAgent(): Promise<TestAgent> {
  const started = await startTestAgent();
  started.sessions.put(
    fakeRecord(ID, {
      template: 'dask',
      state: 'ready',
      connection: {
        kind: 'dask',
        endpoints: [
          { name: 'jupyter', host: '127.0.0.1', port: 1 },
          { name: 'dashboard', host: '127.0.0.1', port, basePath: '/status' },
        ],
      },
    }),
  );
  return started;
}

async function mint(a: TestAgent, endpoint = 'dashboard'): Promise<string> {
  const minted = await request(
    a.socketPath,
    'POST',
    `/v1/sessions/${ID}/endpoints/${endpoint}/ui-link`,
  );
  expect(minted.status, minted.text).toBe(201);
  const body = JSON.parse(minted.text) as { link: string; idleSeconds: number };
  expect(body.idleSeconds).toBe(UI_LINK_IDLE_MS / 1000);
  return body.link;
}

describe('the agent serves /ui/<link>/ as the granted endpoint', () => {
  it('proxies a live link to its endpoint with the outer context, no cookie either way', async () => {
    agent = await daskAgent();
    const link = await mint(agent);
    const answer = await request(agent.socketPath, 'GET', `/ui/${link}/status?q=1`, undefined, {
      cookie: 'username-127-0-0-1=secret',
      'x-forwarded-context': `/lab-base/hpc-jupyter-ui/${link}`,
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers['set-cookie']).toBeUndefined();
    const seen = JSON.parse(answer.text) as { url: string; headers: http.IncomingHttpHeaders };
    expect(seen.url).toBe('/status?q=1');
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['x-forwarded-context']).toBe(`/lab-base/hpc-jupyter-ui/${link}`);
  });

  it('answers 404 to a wrong or revoked link without repeating it, and to a link after its session ends', async () => {
    agent = await daskAgent();
    const link = await mint(agent);
    const wrong = `${link.slice(0, -2)}${link.endsWith('AA') ? 'BB' : 'AA'}`;
    const refused = await request(agent.socketPath, 'GET', `/ui/${wrong}/status`);
    expect(refused.status).toBe(404);
    expect(refused.text).not.toContain(wrong);
    const revoked = await request(agent.socketPath, 'POST', '/v1/ui-links/revoke', { link });
    expect(JSON.parse(revoked.text)).toEqual({ revoked: true });
    expect((await request(agent.socketPath, 'GET', `/ui/${link}/status`)).status).toBe(404);
    const again = await mint(agent);
    expect((await request(agent.socketPath, 'GET', `/ui/${again}/status`)).status).toBe(200);
    agent.sessions.update(ID, { state: 'cancelled' });
    expect((await request(agent.socketPath, 'GET', `/ui/${again}/status`)).status).toBe(404);
  });

  it('mints no link for the Jupyter server, an unknown endpoint, or without the client header', async () => {
    agent = await daskAgent();
    for (const endpoint of ['jupyter', 'nope']) {
      const answer = await request(
        agent.socketPath,
        'POST',
        `/v1/sessions/${ID}/endpoints/${endpoint}/ui-link`,
      );
      expect(answer.status).toBe(404);
    }
    const bare = await new Promise<number>((resolve, reject) => {
      http
        .request(
          {
            socketPath: agent?.socketPath,
            method: 'POST',
            path: `/v1/sessions/${ID}/endpoints/dashboard/ui-link`,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
        .on('error', reject)
        .end();
    });
    expect(bare).toBe(403);
  });
});
