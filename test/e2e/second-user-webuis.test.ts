/**
 * Issue 14, attack A4 on the web UIs: the Dask dashboard (and every Dask worker's own HTTP
 * server), the Spark master UI, each Spark worker UI (with /logPage, which serves executor
 * output) and the application UI (the Spark Connect server's) refuse the second user
 * `hpcjother`, from another node of the cluster and through the agent's loopback forwards on
 * this machine, with no header and with a token signed by a key of its own; the owner, through
 * the agent's proxy (which signs a token from the job's webui.key), gets the same pages. The
 * Spark Connect server listens on its node's address, not on every interface. Prints how many
 * attacks were tried and how many refused.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import {
  JOB_PYTHON,
  lastJson,
  pythonInJob,
  sshAs,
  startEngine,
  stopEngine,
  type EngineSession,
} from './engines-support.js';
import { asOther, listenersIn } from './second-user.js';
import { privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

/** Where the attacks come from: a node of the cluster that is not the job's first one. */
function attackNetns(s: EngineSession): string {
  const first = s.nodes[0] ?? 'node1';
  return `hpcj-${['node1', 'node2', 'node3', 'node4'].find((n) => n !== first) ?? 'node2'}`;
}

// As hpcjother on another node: a Spark Connect client without the token (gRPC, no TLS, as the
// server's port takes it). Prints how the server answered.
const CONNECT_PY = String.raw`
import json, sys
from pyspark.sql.connect.client import DefaultChannelBuilder
from pyspark.sql.connect.session import SparkSession
try:
    s = SparkSession.builder.channelBuilder(DefaultChannelBuilder(sys.argv[1])).getOrCreate()
    print(json.dumps({"answer": "rows %d" % s.range(3).count()}))
except Exception as e:
    text = str(e)
    print(json.dumps({"answer": "UNAUTHENTICATED" if "UNAUTHENTICATED" in text else text[:200]}))
`;

// As hpcjother: each target fetched with no header, and with a token the attacker signed with a
// key of its own; WebSocket upgrades sent by hand. The answer is the HTTP status, or how the
// connection failed.
const ATTACK_PY = String.raw`
import base64, hashlib, hmac, json, os, socket, sys, time, urllib.error, urllib.parse, urllib.request
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = os.urandom(32)
h = b64(b'{"alg":"HS256","typ":"JWT"}')
p = b64(json.dumps({"exp": int(time.time()) + 300}).encode())
forged = "Bearer %s.%s.%s" % (h, p, b64(hmac.new(key, ("%s.%s" % (h, p)).encode(), hashlib.sha256).digest()))
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def fetch(url, auth):
    req = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with opener.open(req, timeout=15) as r:
            return str(r.status)
    except urllib.error.HTTPError as e:
        return str(e.code)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return "refused" if isinstance(reason, ConnectionRefusedError) else "closed: %s" % reason
def upgrade(url):
    u = urllib.parse.urlsplit(url)
    try:
        s = socket.create_connection((u.hostname, u.port), timeout=15)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                   % (u.path, u.netloc)).encode())
        line = s.recv(4096).split(b"\r\n", 1)[0].decode("latin1")
    except OSError as e:
        return "refused" if isinstance(e, ConnectionRefusedError) else "closed: %s" % e
    if not line:
        return "closed: no answer"
    return line.split(" ")[1] if line.startswith("HTTP/") else "other: " + line
out = []
for t in json.load(sys.stdin):
    if t.get("ws"):
        out.append({"url": t["url"], "how": "websocket", "answer": upgrade(t["url"])})
        continue
    out.append({"url": t["url"], "how": "no header", "answer": fetch(t["url"], None)})
    out.append({"url": t["url"], "how": "forged token", "answer": fetch(t["url"], forged)})
print(json.dumps(out))
`;

// As the owner in the job: the job's own token opens each URL (argv[1]: a base64 JSON list), so
// a 403 above is the token's doing, not a broken page. Prints each URL's status.
const OWNER_PY = String.raw`
import base64, json, sys, urllib.error, urllib.request
from hpc_jupyter import webui
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = {}
for url in json.loads(base64.b64decode(sys.argv[1])):
    req = urllib.request.Request(url, headers={"Authorization": webui.authorization(".")})
    try:
        with opener.open(req, timeout=30) as r:
            out[url] = r.status
    except urllib.error.HTTPError as e:
        out[url] = e.code
print(json.dumps(out))
`;

// As the owner in the job: the HTTP server every Dask worker runs (its /metrics and /health).
const DASK_WORKERS_PY = `
import json
from hpc_jupyter.dask_engine import connect
c = connect(".")
info = c.scheduler_info(n_workers=-1)["workers"].values()
print(json.dumps([[w["host"], w["services"]["dashboard"]] for w in info]))
c.close()
`;

interface Attempt {
  readonly url: string;
  readonly how: string;
  readonly answer: string;
}

let env: Record<string, string>;
let agent: AgentClient;
const attempts: Attempt[] = [];

/** Runs the attacks as hpcjother (from a node, or on this machine) and records every answer. */
async function attack(
  targets: readonly { url: string; ws?: boolean }[],
  netns?: string,
): Promise<Attempt[]> {
  const ran = await asOther([JOB_PYTHON, '-c', ATTACK_PY], {
    ...(netns === undefined ? {} : { netns }),
    input: JSON.stringify(targets),
    timeoutMs: 60_000 + targets.length * 35_000,
  });
  if (ran.code !== 0) throw new Error(`attack script failed (${ran.code}): ${ran.stderr}`);
  const out = lastJson(ran) as Attempt[];
  attempts.push(...out.map((a) => ({ ...a, how: `${a.how} from ${netns ?? 'this machine'}` })));
  return out;
}

/** A 401/403, or no connection at all (refused, or closed by the forward). */
function isRefusal(answer: string): boolean {
  return (
    ['401', '403', 'refused', 'UNAUTHENTICATED'].includes(answer) || answer.startsWith('closed')
  );
}

function expectAllRefused(out: readonly Attempt[]): void {
  const admitted = out.filter((a) => !isRefusal(a.answer));
  expect(admitted, JSON.stringify(admitted, null, 1)).toEqual([]);
  expect(out.length).toBeGreaterThan(0);
}

/** GET through the agent's proxy on its unix socket: what the owner's browser gets. */
function viaProxy(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: agentSocketPath(env), path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      })
      .on('error', reject);
  });
}

async function forwardPort(id: string, endpoint: string): Promise<number> {
  return (await agent.access(id, { endpoint })).localPort;
}

/** The job's web UI key is in no process's argv and no log of the job. */
async function expectKeyPrivate(s: EngineSession): Promise<void> {
  const dir = s.sessionDir;
  const mode = await sshAs('hpcjtest', ['stat', '-c', '%a', `${dir}/webui.key`], '');
  expect(mode.stdout.trim()).toBe('600');
  const key = (await sshAs('hpcjtest', ['cat', `${dir}/webui.key`], '')).stdout.trim();
  expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const logs = await sshAs('hpcjtest', ['sh', '-c', `'cat ${dir}/job.log ${dir}/logs/*'`], '');
  expect(logs.stdout.length).toBeGreaterThan(0);
  expect(logs.stdout).not.toContain(key);
  // The cluster's nodes are network namespaces of this machine: one process table.
  expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(key);
}

function endpointUrl(s: EngineSession, name: string, path: string): string {
  const e = s.endpoints.find((x) => x.name === name);
  if (e === undefined) throw new Error(`no endpoint ${name}`);
  return `http://${e.host}:${e.port}${path}`;
}

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  const refusedCount = attempts.filter((a) => isRefusal(a.answer)).length;
  console.log(`web UI attacks: ${attempts.length} tried, ${refusedCount} refused`);
  for (const a of attempts) console.log(`  ${a.answer.padEnd(8)} ${a.how}: ${a.url}`);
  await stopPrivateAgent(env);
}, 300_000);

describe('A4: the Dask dashboard and the Dask workers refuse the second user', () => {
  let dask: EngineSession | undefined;
  const PAGES = ['/status', '/info/main/workers.html', '/json/counts.json', '/json/identity.json'];

  it('starts a Dask cluster whose connection.json names the dashboard as needing the token', async () => {
    dask = await startEngine(env, 'dask', ['--nodes', '2', '--param', 'cpusPerTask=1']);
    agent = new AgentClient(agentSocketPath(env));
    expect(dask.connection['ui_auth']).toEqual({ scheme: 'jws-hs256', endpoints: ['dashboard'] });
    expect(JSON.stringify(dask.connection)).not.toMatch(/webui\.key|Bearer/);
    await expectKeyPrivate(dask);
  }, 400_000);

  it('refuses every dashboard page and its WebSocket from another node', async () => {
    if (dask === undefined) throw new Error('no session');
    const s = dask;
    const targets = [
      ...PAGES.map((p) => ({ url: endpointUrl(s, 'dashboard', p) })),
      { url: endpointUrl(s, 'dashboard', '/status/ws'), ws: true },
    ];
    expectAllRefused(await attack(targets, attackNetns(s)));
  });

  it('refuses the same through the agent loopback forward on this machine', async () => {
    if (dask === undefined) throw new Error('no session');
    const port = await forwardPort(dask.id, 'dashboard');
    const targets = [
      ...PAGES.map((p) => ({ url: `http://127.0.0.1:${port}${p}` })),
      { url: `http://127.0.0.1:${port}/status/ws`, ws: true },
    ];
    expectAllRefused(await attack(targets));
  });

  it("refuses every worker's own HTTP server (/metrics, /health) from another node", async () => {
    if (dask === undefined) throw new Error('no session');
    const workers = lastJson(await pythonInJob(dask, DASK_WORKERS_PY)) as [string, number][];
    expect(workers).toHaveLength(2);
    const targets = workers.flatMap(([host, port]) =>
      ['/metrics', '/health'].map((p) => ({ url: `http://${host}:${port}${p}` })),
    );
    expectAllRefused(await attack(targets, attackNetns(dask)));
  });

  it('serves the owner every page through the agent proxy', async () => {
    if (dask === undefined) throw new Error('no session');
    for (const page of PAGES) {
      const res = await viaProxy(`/endpoints/${dask.id}/dashboard${page}`);
      expect(res.status, `${page}: ${res.body.slice(0, 200)}`).toBe(200);
    }
    const workers = await viaProxy(`/endpoints/${dask.id}/dashboard/info/main/workers.html`);
    expect(workers.body).toContain('Worker');
  });

  it('stops', async () => {
    if (dask === undefined) throw new Error('no session');
    await stopEngine(env, dask);
  });
});

describe('A4: the Spark master, worker and application UIs refuse the second user', () => {
  let spark: EngineSession | undefined;
  let workerUis: string[] = [];
  let appId = '';

  it('starts Spark with a Connect server, listening on its node address only', async () => {
    spark = await startEngine(env, 'spark', [
      '--nodes',
      '2',
      '--param',
      'cpusPerTask=1',
      '--param',
      'connectServer=true',
    ]);
    agent = new AgentClient(agentSocketPath(env));
    expect(spark.connection['ui_auth']).toEqual({
      scheme: 'jws-hs256',
      endpoints: ['master-ui', 'app-ui'],
    });
    const connect = spark.endpoints.find((e) => e.name === 'connect');
    if (connect === undefined) throw new Error('no connect endpoint');
    const listeners = await listenersIn(`hpcj-${spark.nodes[0] ?? 'node1'}`);
    const bound = listeners.filter((l) => l.port === connect.port).map((l) => l.address);
    expect(bound).toEqual([connect.host]);
    await expectKeyPrivate(spark);
  }, 600_000);

  it('serves the owner the master UI and its /json through the agent proxy', async () => {
    if (spark === undefined) throw new Error('no session');
    expect((await viaProxy(`/endpoints/${spark.id}/master-ui/`)).status).toBe(200);
    const json = await viaProxy(`/endpoints/${spark.id}/master-ui/json/`);
    expect(json.status).toBe(200);
    const state = JSON.parse(json.body) as {
      workers: { webuiaddress: string }[];
      activeapps: { id: string }[];
    };
    workerUis = state.workers.map((w) => w.webuiaddress);
    expect(workerUis).toHaveLength(2);
    appId = state.activeapps[0]?.id ?? '';
    expect(appId).not.toBe('');
    expect((await viaProxy(`/endpoints/${spark.id}/app-ui/jobs/`)).status).toBe(200);
  });

  it("serves the owner each worker's UI and /logPage with the job's own token", async () => {
    if (spark === undefined) throw new Error('no session');
    const urls = workerUis.flatMap((w) => [`${w}/`, `${w}/logPage/?self&logType=out`]);
    // Base64: the argument crosses ssh's remote shell, which would split JSON and run "&".
    const arg = Buffer.from(JSON.stringify(urls)).toString('base64');
    const ran = await pythonInJob(spark, OWNER_PY, [arg]);
    const seen = lastJson(ran) as Record<string, number>;
    expect(Object.values(seen)).toEqual(urls.map(() => 200));
  });

  it('refuses the master, every worker and the app UI from another node', async () => {
    if (spark === undefined) throw new Error('no session');
    const s = spark;
    const targets = [
      { url: endpointUrl(s, 'master-ui', '/') },
      { url: endpointUrl(s, 'master-ui', '/json/') },
      { url: endpointUrl(s, 'master-ui', `/app/?appId=${appId}`) },
      { url: endpointUrl(s, 'app-ui', '/jobs/') },
      { url: endpointUrl(s, 'app-ui', '/api/v1/applications') },
      { url: endpointUrl(s, 'app-ui', '/environment/') },
      ...workerUis.flatMap((w) => [
        { url: `${w}/` },
        { url: `${w}/json/` },
        { url: `${w}/logPage/?self&logType=out` },
        { url: `${w}/logPage/?appId=${appId}&executorId=0&logType=stdout` },
      ]),
    ];
    expectAllRefused(await attack(targets, attackNetns(s)));
  });

  it('refuses a Spark Connect client without the token from another node', async () => {
    if (spark === undefined) throw new Error('no session');
    const connect = spark.endpoints.find((e) => e.name === 'connect');
    if (connect === undefined) throw new Error('no connect endpoint');
    const url = `sc://${connect.host}:${connect.port}`;
    const netns = attackNetns(spark);
    const ran = await asOther([JOB_PYTHON, '-c', CONNECT_PY, url], { netns, timeoutMs: 120_000 });
    const { answer } = lastJson(ran) as { answer: string };
    attempts.push({ url, how: `gRPC without token from ${netns}`, answer });
    expect(answer).toBe('UNAUTHENTICATED');
  });

  it('refuses the master and app UIs through the agent loopback forwards on this machine', async () => {
    if (spark === undefined) throw new Error('no session');
    const master = await forwardPort(spark.id, 'master-ui');
    const app = await forwardPort(spark.id, 'app-ui');
    const targets = [
      { url: `http://127.0.0.1:${master}/` },
      { url: `http://127.0.0.1:${master}/json/` },
      { url: `http://127.0.0.1:${app}/jobs/` },
      { url: `http://127.0.0.1:${app}/api/v1/applications` },
    ];
    expectAllRefused(await attack(targets));
  });

  it('stops', async () => {
    if (spark === undefined) throw new Error('no session');
    await stopEngine(env, spark);
  });
});
