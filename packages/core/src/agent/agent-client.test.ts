// What the client puts on the wire: the header the agent wants on every request (plain calls,
// leases, a leased start and the event stream), read by a bare HTTP server on a unix socket.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentClient } from './agent-client.js';
import { fakeRecord } from './fake-session-service.js';

let server: http.Server | undefined;
let dir = '';
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

async function recorder(): Promise<{ client: AgentClient; seen: Seen[] }> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-client-'));
  const socketPath = path.join(dir, 'agent.sock');
  const seen: Seen[] = [];
  server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    if (req.url === '/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: snapshot\ndata: {"type":"snapshot","sessions":[],"prompts":[]}\n\n');
    } else if (req.url?.endsWith('/lease') === true || req.url === '/v1/sessions') {
      const session = fakeRecord('s000000000001');
      res.writeHead(req.url === '/v1/sessions' ? 201 : 200);
      res.write(
        `${JSON.stringify({ type: 'lease', id: session.id, graceSeconds: 10, session })}\n`,
      );
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server?.listen(socketPath, r));
  return { client: new AgentClient(socketPath), seen };
}

describe('AgentClient', () => {
  it('sends X-HPC-Jupyter: 1 and JSON on every kind of request', async () => {
    const { client, seen } = await recorder();
    await client.health();
    await client.holdSession('s000000000001', 5);
    await client.stopSession('s000000000001');
    const lease = await client.lease('s000000000001');
    lease.release();
    const started = await client.startLeasedSession({
      cluster: 'c',
      template: 'kernel',
      kernelKey: 'k',
    });
    expect(started.record.id).toBe('s000000000001');
    started.lease.release();
    const events: string[] = [];
    await client.events((e) => events.push(e.type), new AbortController().signal);
    expect(events).toEqual(['snapshot']);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /v1/health',
      'POST /v1/sessions/s000000000001/hold',
      'DELETE /v1/sessions/s000000000001',
      'POST /v1/sessions/s000000000001/lease',
      'POST /v1/sessions',
      'GET /v1/events',
    ]);
    for (const s of seen) expect(s.headers['x-hpc-jupyter'], s.url).toBe('1');
    for (const s of seen.filter((x) => x.method === 'POST')) {
      expect(s.headers['content-type'], s.url).toBe('application/json');
    }
  });
});
