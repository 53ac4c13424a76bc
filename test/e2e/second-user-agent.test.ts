/**
 * Attacks on the per-user agent (issue 14, A1 and the agent half of "malformed and oversized
 * input"), against a real agent and a real JupyterLab with the hpc-jupyter route, on the Slurm
 * test cluster's configuration:
 *
 * - a page from another origin (127.0.0.1, another port: the same *site*, so Chromium sends the
 *   user's Jupyter cookie) tries a text/plain form POST, a no-cors fetch POST, a preflighted
 *   fetch, fetch GETs and an EventSource against `<lab>/hpc-jupyter/v1/...`, asking for a kernel
 *   with a key of its choosing; every one reaches the agent through Jupyter's authentication and
 *   is refused by it (403 RequestRefused), no session exists afterwards, and the owner's sidebar
 *   keeps working;
 * - the second Unix user cannot even open the agent's socket;
 * - truncated JSON, 1 MiB + 1 bytes, deep nesting, headers and a body that trickle, hundreds of
 *   stalled connections and many large bodies at once, straight at the agent's socket: each
 *   gets a 4xx (or 503) or a closed connection within the agent's timeouts, the owner is served
 *   meanwhile and afterwards, and the agent's RSS grows by less than 50 MiB.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentLogPath, agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { startJupyter, type JupyterProcess } from './jupyter-server.js';
import { installLabExtension, launchChromium } from './jupyterlab-support.js';
import { asOther } from './second-user.js';
import { cli, privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

const TOKEN = `t${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
const ATTACKER_KEY = 'attacker-chosen-key';
const MIB = 1024 * 1024;

let env: Record<string, string>;
let lab: JupyterProcess | undefined;
let browser: Browser | undefined;
let attacker: http.Server | undefined;
let agent: AgentClient;
let socketPath: string;

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  const labEnv = await installLabExtension(env, mkdtempSync(join(tmpdir(), 'hpcj-a1-prefix-')));
  const listed = await cli(['list'], env);
  expect(listed.code, listed.stderr).toBe(0);
  socketPath = agentSocketPath(env);
  agent = new AgentClient(socketPath);
  lab = await startJupyter({
    app: 'lab',
    env: labEnv,
    token: TOKEN,
    rootDir: mkdtempSync(join(tmpdir(), 'hpcj-a1-root-')),
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => {
    if (attacker === undefined) resolve();
    else
      attacker.close(() => {
        resolve();
      });
  });
  await lab?.stop();
  await stopPrivateAgent(env);
});

/** The attacker's page: every request a page may send to another origin without asking. */
function attackPage(agentUrl: string): string {
  const spec = { cluster: 'testlab', template: 'kernel', kernelKey: ATTACKER_KEY };
  // text/plain form encoding is name=value: the name holds the JSON up to a padding field.
  const formName = `${JSON.stringify(spec).slice(0, -1)},"pad":"`;
  return `<!doctype html><title>another origin</title>
<iframe name="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="${agentUrl}v1/sessions">
<input type="hidden" name='${formName}' value='"}'></form>
<script>
const AGENT = ${JSON.stringify(agentUrl)};
const body = ${JSON.stringify(JSON.stringify(spec))};
const results = (window.results = {});
async function attempt(name, f) {
  try { results[name] = await f(); } catch (e) { results[name] = 'blocked: ' + e.name; }
}
(async () => {
  await attempt('noCorsPost', async () => {
    const r = await fetch(AGENT + 'v1/sessions',
      { method: 'POST', mode: 'no-cors', credentials: 'include', body });
    return 'sent (' + r.type + ')';
  });
  await attempt('preflightedPost', async () => {
    const r = await fetch(AGENT + 'v1/sessions', { method: 'POST', credentials: 'include',
      headers: { 'content-type': 'application/json', 'x-hpc-jupyter': '1' }, body });
    return 'answered ' + r.status;
  });
  await attempt('corsGet', async () =>
    'read ' + (await (await fetch(AGENT + 'v1/sessions', { credentials: 'include' })).text()));
  await attempt('noCorsGet', async () => {
    const r = await fetch(AGENT + 'v1/sessions', { mode: 'no-cors', credentials: 'include' });
    return 'sent (' + r.type + ')';
  });
  await attempt('events', () => new Promise((resolve) => {
    const es = new EventSource(AGENT + 'v1/events', { withCredentials: true });
    es.addEventListener('snapshot', (e) => { es.close(); resolve('read ' + e.data); });
    es.onerror = () => { es.close(); resolve('closed'); };
  }));
  document.getElementById('f').submit();
  results.done = true;
})();
</script>`;
}

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: string;
}

/** Every answer the browser got from the agent's route (playwright sees opaque ones too). */
function recordAgentAnswers(page: Page, into: Seen[]): void {
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (!url.pathname.includes('/hpc-jupyter/')) return;
    void response
      .text()
      .catch(() => '')
      .then((body) => {
        into.push({
          method: response.request().method(),
          path: url.pathname.replace(/^.*\/hpc-jupyter/, ''),
          status: response.status(),
          body,
        });
      });
  });
}

function agentLog(): string {
  return readFileSync(agentLogPath(env), 'utf8');
}

describe('A1: a page from another origin against the agent through JupyterLab', () => {
  it('is refused by the agent on every request, and starts no kernel', async () => {
    if (lab === undefined || browser === undefined) throw new Error('no lab');
    const context = await browser.newContext();
    // The owner logs in: from now on the browser holds Jupyter's cookie for 127.0.0.1.
    const owner = await context.newPage();
    const ownerSeen: Seen[] = [];
    recordAgentAnswers(owner, ownerSeen);
    await owner.goto(`${lab.url}lab?token=${TOKEN}`);
    await owner.locator('li[data-id="hpc-jupyter-sidebar"]').click();
    await owner.locator('#hpc-jupyter-sidebar .hpcj-status[data-connection="live"]').waitFor();

    attacker = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(attackPage(`${lab?.url ?? ''}hpc-jupyter/`));
    });
    await new Promise<void>((r) => attacker?.listen(0, '127.0.0.1', r));
    const attackerPort = (attacker.address() as net.AddressInfo).port;
    expect(attackerPort).not.toBe(lab.port);
    const logBefore = agentLog().length;

    const page = await context.newPage();
    const seen: Seen[] = [];
    recordAgentAnswers(page, seen);
    await page.goto(`http://127.0.0.1:${attackerPort}/`);
    await page.waitForFunction(() => (window as { results?: { done?: boolean } }).results?.done);
    // The form's answer lands in the iframe; wait for it too.
    await expect
      .poll(() => seen.filter((s) => s.method === 'POST').length, { timeout: 15_000 })
      .toBe(2);
    const results = await page.evaluate(
      () => (window as { results?: Record<string, string> }).results ?? {},
    );
    console.log('A1 page results:', JSON.stringify(results));
    console.log(
      'A1 answers to the page:',
      seen.map((s) => `${s.method} ${s.path} ${s.status}`).join(', '),
    );
    // What the page itself learned: nothing readable, and its preflighted fetch never went out.
    expect(results['noCorsPost']).toBe('sent (opaque)');
    expect(results['noCorsGet']).toBe('sent (opaque)');
    expect(results['preflightedPost']).toMatch(/^blocked/);
    expect(results['corsGet']).toMatch(/^blocked/);
    expect(results['events']).toBe('closed');
    // Each reached the agent (past Jupyter's authentication: the body is the agent's) and was
    // refused by it. Playwright reports the answers to fetch and the form, not the EventSource.
    expect(seen.length).toBeGreaterThanOrEqual(3);
    // (The body of the form's answer, in an out-of-process frame, is not always readable.)
    for (const s of seen) {
      expect(s.status, `${s.method} ${s.path}`).toBe(403);
      if (s.body !== '') expect(s.body).toMatch(/same-site request.*"kind":"RequestRefused"/);
    }
    expect(seen.filter((s) => s.body.includes('RequestRefused')).length).toBeGreaterThanOrEqual(1);
    // The agent's log has every one: 2 POSTs (form, no-cors), 2 GETs (cors, no-cors), the
    // event stream. The preflight of the fetch with the header carries no cookie: Jupyter
    // itself turns it away, and the POST it was for is never sent.
    const log = agentLog().slice(logBefore);
    const refusals = log.match(/refused \w+ \/v1\/\S+ 403: Refused a same-site request/g) ?? [];
    console.log(`A1 agent log, ${refusals.length} refusals:\n${refusals.join('\n')}`);
    const count = (what: string): number => refusals.filter((r) => r.includes(what)).length;
    expect(count('POST /v1/sessions ')).toBe(2);
    expect(count('GET /v1/sessions ')).toBe(2);
    expect(count('GET /v1/events ')).toBe(1);
    expect(log).not.toMatch(/POST \/v1\/sessions 201/);
    expect(await agent.sessions()).toEqual([]);

    // The owner's sidebar kept working: its own requests were answered, and still are.
    const ownerAnswers = ownerSeen.filter((s) => s.path.startsWith('/v1/'));
    expect(ownerAnswers.length).toBeGreaterThan(0);
    for (const s of ownerAnswers) expect(s.status, s.path).toBeLessThan(400);
    await owner.reload();
    await owner.locator('li[data-id="hpc-jupyter-sidebar"]').click();
    await owner.locator('#hpc-jupyter-sidebar .hpcj-status[data-connection="live"]').waitFor();
    await owner.locator('#hpc-jupyter-sidebar .hpcj-template[data-template="jupyter"]').waitFor();

    // Even the owner's own origin cannot hand the agent a kernel key through the route.
    const sameOrigin = await owner.evaluate(
      async (spec) => {
        const r = await fetch('/hpc-jupyter/v1/sessions', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hpc-jupyter': '1' },
          body: JSON.stringify({ ...spec, lease: {} }),
        });
        const missing = await fetch('/hpc-jupyter/v1/sessions/s000000000000/forget', {
          method: 'POST',
          headers: { 'x-hpc-jupyter': '1' },
        });
        return [r.status, await r.text(), missing.status];
      },
      { cluster: 'testlab', template: 'kernel', kernelKey: ATTACKER_KEY },
    );
    console.log('A1 same-origin kernelKey:', JSON.stringify(sameOrigin));
    expect(sameOrigin[0]).toBe(403);
    expect(sameOrigin[1]).toMatch(/relayed by a web server/);
    // The header and the origin pass: the route runs (and knows no such session).
    expect(sameOrigin[2]).toBe(404);
    expect(await agent.sessions()).toEqual([]);
    await context.close();
  });

  it('the second user cannot open the agent socket at all', async () => {
    const tried = await asOther([
      'python3',
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX)\n' +
        'try:\n s.connect(sys.argv[1]); print("connected")\n' +
        'except OSError as e: print(type(e).__name__)',
      socketPath,
    ]);
    console.log(`A1 hpcjother connect(${socketPath}): ${tried.stdout.trim()}`);
    expect(tried.stdout.trim()).toBe('PermissionError');
  });
});

// ---- malformed input, straight at the socket ----------------------------------------------

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

/** Writes `parts` `gapMs` apart; resolves with what came back and when the agent closed. */
function exchange(
  parts: readonly (string | Buffer)[],
  gapMs: number,
): Promise<{ readonly text: string; readonly ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ path: socketPath });
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d: Buffer) => {
      if (text.length < 4096) text += d.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: Date.now() - started });
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

function request(head: string, body: string | Buffer = ''): string[] {
  return [head.replace(/\n/g, '\r\n') + '\r\n', ...(body.length > 0 ? [body.toString()] : [])];
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

const POST = (length: number): string =>
  `POST /v1/sessions HTTP/1.1\nHost: localhost\nX-HPC-Jupyter: 1\nContent-Type: application/json\nContent-Length: ${length}\nConnection: close\n`;

describe('malformed and oversized input to the agent socket', () => {
  it('gets a 4xx or a closed connection within the timeouts; the owner is served throughout', async () => {
    const { pid } = await agent.health();
    const before = rssKiB(pid);
    const started = Date.now();
    const truncated = '{"cluster":"testlab","templ';
    const big = Buffer.alloc(MIB + 1, 0x20);
    const deep = '['.repeat(MIB - 1);
    // One at a time first, so that each gets its own answer.
    const single = {
      truncated: await exchange(request(POST(truncated.length), truncated), 10),
      '1MiB+1 declared': await exchange([...request(POST(big.length)), big], 10),
      deep: await exchange(request(POST(deep.length), deep), 10),
    };
    const attacks: Record<string, Promise<{ text: string; ms: number }>> = {
      ...Object.fromEntries(Object.entries(single).map(([k, v]) => [k, Promise.resolve(v)])),
      'headers trickled': exchange(
        ['GET /v1/health HTTP/1.1\r\n', ...Array.from({ length: 200 }, (_, i) => `X-${i}: 1\r\n`)],
        250,
      ),
      'body trickled': exchange(
        [...request(POST(10_000)), ...Array.from({ length: 400 }, () => ' ')],
        250,
      ),
      'never a byte': exchange([''], 10),
    };
    // Hundreds of connections that stall in their headers, and 40 near-limit bodies at once.
    const stalled = Array.from({ length: 300 }, () =>
      exchange(['POST /v1/sessions HTTP/1.1\r\nHost: x\r\n'], 10),
    );
    const bodies = Array.from({ length: 40 }, () =>
      exchange([...request(POST(MIB - 16)), Buffer.alloc(MIB - 16, 0x20)], 10),
    );
    // The owner meanwhile: health answers quickly, repeatedly.
    const ownerMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      await agent.health();
      ownerMs.push(Date.now() - t);
      await new Promise((r) => setTimeout(r, 300));
    }
    const results = Object.fromEntries(
      await Promise.all(Object.entries(attacks).map(async ([k, p]) => [k, await p] as const)),
    );
    const stalledDone = await Promise.all(stalled);
    const bodiesDone = await Promise.all(bodies);
    const after = rssKiB(pid);
    for (const [name, r] of Object.entries(results)) {
      console.log(`agent attack ${name}: ${statusOf(r.text) || 'closed'} after ${r.ms} ms`);
    }
    const stalledCodes = new Map<number, number>();
    for (const r of stalledDone)
      stalledCodes.set(statusOf(r.text), (stalledCodes.get(statusOf(r.text)) ?? 0) + 1);
    const bodyCodes = new Map<number, number>();
    for (const r of bodiesDone)
      bodyCodes.set(statusOf(r.text), (bodyCodes.get(statusOf(r.text)) ?? 0) + 1);
    console.log(
      `agent attack 300 stalled connections: ${JSON.stringify([...stalledCodes])}, last closed after ${Math.max(...stalledDone.map((r) => r.ms))} ms`,
    );
    console.log(`agent attack 40 concurrent ~1 MiB bodies: ${JSON.stringify([...bodyCodes])}`);
    console.log(`agent owner health during the attacks: ${ownerMs.join(', ')} ms`);
    console.log(
      `agent RSS before ${Math.round(before / 1024)} MiB, after ${Math.round(after / 1024)} MiB (+${Math.round((after - before) / 1024)} MiB), ${Date.now() - started} ms in all`,
    );

    expect(statusOf(results['truncated']?.text ?? '')).toBe(400);
    expect(results['truncated']?.text).toMatch(/not valid JSON/);
    expect(statusOf(results['1MiB+1 declared']?.text ?? '')).toBe(413);
    expect(statusOf(results['deep']?.text ?? '')).toBe(400);
    expect(results['deep']?.text).toMatch(/more than 64 deep/);
    // Headers: 10 s; the whole request: 30 s; checked every second.
    expect(statusOf(results['headers trickled']?.text ?? '')).toBe(408);
    expect(results['headers trickled']?.ms).toBeLessThan(13_000);
    expect(statusOf(results['body trickled']?.text ?? '')).toBe(408);
    expect(results['body trickled']?.ms).toBeLessThan(33_000);
    expect(results['never a byte']?.ms).toBeLessThan(13_000);
    for (const r of stalledDone) {
      expect(statusOf(r.text)).toBe(408);
      expect(r.ms).toBeLessThan(15_000);
    }
    for (const r of bodiesDone) expect([400, 503]).toContain(statusOf(r.text));
    expect(Math.max(...ownerMs)).toBeLessThan(2000);
    expect(after - before).toBeLessThan(50 * 1024);
    // And afterwards, a normal request.
    expect((await agent.health()).pid).toBe(pid);
    expect(await agent.sessions()).toEqual([]);
  });
});
