// The agent server refusing what a web page, a broken client or a slow one sends, on a real
// socket: each refusal's status and message, that no route (no session start) ran, and that the
// agent answers its owner afterwards.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent, type TestAgentOptions } from './agent-test-harness.js';
import { fakeRecord } from './fake-session-service.js';
import { MAX_BODY_BYTES, pendingBodies } from './http-json.js';

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

async function start(options: TestAgentOptions = {}): Promise<TestAgent> {
  agent = await startTestAgent(options);
  return agent;
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

function send(
  socketPath: string,
  method: string,
  path: string,
  headers: http.OutgoingHttpHeaders,
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
      });
    });
    // The agent may close while a refused body is still being written.
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes raw bytes and collects whatever comes back until the agent closes the connection. */
function rawExchange(
  socketPath: string,
  parts: readonly string[],
  gapMs: number,
): Promise<{ readonly text: string; readonly closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ path: socketPath });
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - started });
    });
    let i = 0;
    const next = (): void => {
      const part = parts[i++];
      if (part === undefined || socket.destroyed) return;
      socket.write(part);
      timer = setTimeout(next, gapMs);
    };
    next();
  });
}

const JSON_OWN = { 'content-type': 'application/json', 'x-hpc-jupyter': '1' };
const SPEC = JSON.stringify({ cluster: 'local', template: 'jupyter', params: {} });
const LAB = { host: '127.0.0.1:8888', 'x-forwarded-context': '/hpc-jupyter' };

function errorOf(answer: Answer): { message: string; kind: string } {
  return (JSON.parse(answer.text) as { error: { message: string; kind: string } }).error;
}

describe('the agent refuses other web pages', () => {
  it('refuses the simple requests a cross-site page can send, and starts nothing', async () => {
    const a = await start();
    const page = { ...LAB, origin: 'http://127.0.0.1:9999', 'sec-fetch-site': 'same-site' };
    const form = await send(
      a.socketPath,
      'POST',
      '/v1/sessions',
      { ...page, 'content-type': 'text/plain' },
      SPEC,
    );
    expect(form.status).toBe(403);
    expect(errorOf(form)).toMatchObject({ kind: 'RequestRefused' });
    expect(errorOf(form).message).toMatch(/same-site/);
    // Without Sec-Fetch-* (an older browser) the Origin gives it away.
    const old = await send(
      a.socketPath,
      'POST',
      '/v1/sessions',
      { ...LAB, origin: 'http://127.0.0.1:9999', 'content-type': 'text/plain' },
      SPEC,
    );
    expect(errorOf(old).message).toMatch(/origin "http:\/\/127.0.0.1:9999"/);
    // Without any of them (not a browser, or a same-origin one): the header and type decide.
    const plain = await send(
      a.socketPath,
      'POST',
      '/v1/sessions',
      { 'content-type': 'text/plain' },
      SPEC,
    );
    expect([plain.status, errorOf(plain).message]).toEqual([
      403,
      expect.stringMatching(/X-HPC-Jupyter/),
    ]);
    const typed = await send(
      a.socketPath,
      'POST',
      '/v1/sessions',
      { 'x-hpc-jupyter': '1', 'content-type': 'text/plain' },
      SPEC,
    );
    expect([typed.status, errorOf(typed).message]).toEqual([
      415,
      expect.stringMatching(/text\/plain/),
    ]);
    const listed = await send(a.socketPath, 'GET', '/v1/sessions', {
      ...LAB,
      'sec-fetch-site': 'cross-site',
    });
    expect(listed.status).toBe(403);
    const events = await send(a.socketPath, 'GET', '/v1/events', { ...page });
    expect(events.status).toBe(403);
    expect(a.sessions.calls).toEqual([]);
    // The owner is served as before.
    expect((await a.client.startSession({ cluster: 'local', template: 'jupyter' })).state).toBe(
      'queued',
    );
  });

  it('grants no preflight and sends no CORS header', async () => {
    const a = await start();
    const preflight = await send(a.socketPath, 'OPTIONS', '/v1/sessions', {
      ...LAB,
      origin: 'http://127.0.0.1:8888',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'x-hpc-jupyter',
    });
    expect(preflight.status).toBe(403);
    expect(errorOf(preflight).message).toMatch(/preflight/);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-'))).toEqual(
      [],
    );
  });

  it('guards the session web proxy and its WebSocket upgrades too', async () => {
    const a = await start();
    a.sessions.put(fakeRecord('s000000000001'));
    const frame = await send(a.socketPath, 'GET', '/endpoints/s000000000001/dask/status', {
      ...LAB,
      'sec-fetch-site': 'same-site',
      'sec-fetch-dest': 'iframe',
    });
    expect(frame.status).toBe(403);
    const upgrade = await rawExchange(
      a.socketPath,
      [
        'GET /sessions/s000000000001/api/kernels/k/channels HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n' +
          'Origin: http://127.0.0.1:9999\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ],
      10,
    );
    expect(upgrade.text).toMatch(/^HTTP\/1.1 403 Forbidden/);
    expect(upgrade.text).toMatch(/not the Jupyter server's own/);
  });
});

describe('a client-chosen kernel key', () => {
  const keyed = JSON.stringify({
    cluster: 'local',
    template: 'kernel',
    kernelKey: 'chosen-by-the-page',
  });

  it('is refused without a lease, and from the browser route even with one', async () => {
    const a = await start();
    const bare = await send(a.socketPath, 'POST', '/v1/sessions', JSON_OWN, keyed);
    expect(bare.status).toBe(403);
    expect(errorOf(bare).message).toMatch(/without "lease"/);
    const withLease = JSON.stringify({ ...(JSON.parse(keyed) as object), lease: {} });
    const relayed = await send(
      a.socketPath,
      'POST',
      '/v1/sessions',
      { ...JSON_OWN, ...LAB },
      withLease,
    );
    expect(relayed.status).toBe(403);
    expect(errorOf(relayed).message).toMatch(/relayed by a web server/);
    expect(a.sessions.calls).toEqual([]);
  });

  it('is taken with a lease from the start; the session stops when that lease is lost', async () => {
    const a = await start();
    const { record, lease } = await a.client.startLeasedSession(
      { cluster: 'local', template: 'kernel', params: {}, kernelKey: 'k3y' },
      { graceSeconds: 0.1 },
    );
    expect(record.state).toBe('queued');
    expect(a.server.leases.count(record.id)).toBe(1);
    lease.release();
    await expect.poll(() => a.sessions.calls, { timeout: 2000 }).toContain(`stop ${record.id}`);
  });

  it('a leased start whose client goes away before the answer is stopped after the grace', async () => {
    const a = await start();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const real = a.sessions.start.bind(a.sessions);
    let asked = false;
    a.sessions.start = async (spec) => {
      asked = true;
      await gate;
      return real(spec);
    };
    const req = http.request({
      socketPath: a.socketPath,
      method: 'POST',
      path: '/v1/sessions',
      headers: JSON_OWN,
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ ...(JSON.parse(keyed) as object), lease: { graceSeconds: 0.1 } }));
    await expect.poll(() => asked).toBe(true);
    req.destroy();
    await new Promise((r) => setTimeout(r, 50));
    release();
    await expect
      .poll(() => a.sessions.calls.filter((c) => c.startsWith('stop ')), {
        timeout: 2000,
      })
      .toHaveLength(1);
  });
});

describe('malformed and oversized input', () => {
  it('answers truncated JSON, deep nesting and bad targets with 400, and keeps serving', async () => {
    const a = await start();
    const truncated = await send(a.socketPath, 'POST', '/v1/sessions', JSON_OWN, SPEC.slice(0, 20));
    expect([truncated.status, errorOf(truncated).message]).toEqual([
      400,
      expect.stringMatching(/not valid JSON/),
    ]);
    const started = Date.now();
    const deep = await send(
      a.socketPath,
      'POST',
      '/v1/sessions',
      JSON_OWN,
      '['.repeat(MAX_BODY_BYTES),
    );
    expect([deep.status, errorOf(deep).message]).toEqual([
      400,
      expect.stringMatching(/more than 64 deep/),
    ]);
    expect(Date.now() - started).toBeLessThan(1000);
    // "//[" does not even parse as a URL: once an uncaught throw in the request handler.
    for (const target of ['//[', '//evil.example/v1/health', 'http://example.org/v1/health']) {
      const bad = await rawExchange(
        a.socketPath,
        [`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
        10,
      );
      expect(bad.text, target).toMatch(/^HTTP\/1.1 400/);
    }
    expect((await a.client.health()).version).toBe('0.0.0-test');
    expect(a.sessions.calls).toEqual([]);
  });

  it('refuses a body of 1 MiB + 1 bytes with 413, declared or chunked, and closes', async () => {
    const a = await start();
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    const declared = await send(a.socketPath, 'POST', '/v1/sessions', JSON_OWN, big);
    expect([declared.status, declared.headers.connection]).toEqual([413, 'close']);
    expect(errorOf(declared).message).toMatch(/larger than 1048576 bytes/);
    const chunked = await new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        { socketPath: a.socketPath, method: 'POST', path: '/v1/sessions', headers: JSON_OWN },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
          });
        },
      );
      req.on('error', reject);
      // Chunks of 64 KiB, past the limit, with no length given.
      for (let i = 0; i < 17; i++) req.write(Buffer.alloc(64 * 1024, 0x20));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(pendingBodies()).toBe(0);
    expect(a.sessions.calls).toEqual([]);
  });

  it('ends requests whose headers or body trickle in, within the timeouts', async () => {
    const a = await start({ timeouts: { headersMs: 500, requestMs: 1500 } });
    const headers = Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: 1\r\n`);
    const slowHeaders = await rawExchange(
      a.socketPath,
      ['GET /v1/health HTTP/1.1\r\nHost: x\r\n', ...headers],
      100,
    );
    expect(slowHeaders.text).toMatch(/^HTTP\/1.1 408/);
    expect(slowHeaders.closedAfterMs).toBeLessThan(3000);
    const bytes = Array.from({ length: 100 }, () => ' ');
    const slowBody = await rawExchange(
      a.socketPath,
      [
        'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nX-HPC-Jupyter: 1\r\n' +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
        ...bytes,
      ],
      100,
    );
    expect(slowBody.closedAfterMs).toBeLessThan(4000);
    expect(slowBody.closedAfterMs).toBeGreaterThan(1000);
    // A connection that says nothing at all is closed too.
    const silent = await rawExchange(a.socketPath, [''], 10);
    expect(silent.closedAfterMs).toBeLessThan(3000);
    expect((await a.client.health()).version).toBe('0.0.0-test');
    expect(a.sessions.calls).toEqual([]);
  });

  it('bounds what concurrent large bodies hold, and keeps serving meanwhile', async () => {
    const a = await start();
    const half = Buffer.alloc(MAX_BODY_BYTES / 2, 0x20);
    // 20 bodies half sent (10 MiB held) and waiting: past 8 MiB the agent answers 503.
    const open = Array.from({ length: 20 }, () => {
      const req = http.request({
        socketPath: a.socketPath,
        method: 'POST',
        path: '/v1/sessions',
        headers: { ...JSON_OWN, 'content-length': MAX_BODY_BYTES },
        agent: false,
      });
      const status = new Promise<number>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => {
          resolve(0);
        });
      });
      req.write(half);
      return { req, status, answered: false };
    });
    for (const o of open) void o.status.then(() => (o.answered = true));
    await expect.poll(() => open.filter((o) => o.answered).length).toBeGreaterThan(0);
    expect(pendingBodies()).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect((await a.client.health()).version).toBe('0.0.0-test');
    for (const o of open) if (!o.answered) o.req.end(half);
    const statuses = await Promise.all(open.map((o) => o.status));
    // The rest complete as whitespace: an empty body, 400.
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 400).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 400 || s === 503)).toBe(true);
    expect(pendingBodies()).toBe(0);
    expect(a.sessions.calls).toEqual([]);
  });
});
