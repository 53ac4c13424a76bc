/**
 * The `%cluster` magics in a real local ipykernel (jupyter_client's KernelManager, from the
 * job venv), against the 4-node Slurm test cluster through a private agent that the magics start
 * themselves: `%load_ext hpc_jupyter`; `%cluster start ipyparallel -n 4 --cluster testlab` shows
 * its progress in one display updated in place and binds `rc`; `%px import socket;
 * socket.gethostname()` answers from four distinct nodes; `%cluster list` and `status` show the
 * session; `%cluster scale 8` adds an ipyparallel-engines job whose four engines `rc` reaches
 * (node1..node4 twice) and `%cluster scale 4` stops it again; `%cluster stop` cancels the
 * session and the job leaves squeue. Then, in an IPython shell inside a 4-node batch job
 * (`hpc-jupyter run`), `%cluster start ipyparallel -n 4` and `%cluster start dask -n 4` submit
 * nothing and start the engines within that allocation, on node1..node4.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_PYTHON, lastJson, type Ran } from './engines-support.js';
import {
  CLI,
  cli,
  waitLeftSqueue,
  privateAgentEnv,
  stopPrivateAgent,
  testCluster,
} from './support.js';

// Runs each cell of argv[1] (a JSON list) in a fresh kernel and prints, per cell, what came out:
// text of streams, results and displays, display updates by display_id, and errors.
const DRIVER_PY = `
import json, sys
from jupyter_client.manager import start_new_kernel

cells = json.loads(sys.argv[1])
km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120)
results = []
try:
    for code in cells:
        msg_id = kc.execute(code)
        out = {"code": code, "text": [], "displays": {}, "updates": {}, "error": None}
        while True:
            msg = kc.get_iopub_msg(timeout=900)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "stream":
                out["text"].append(content["text"])
                # IPython shows a UsageError (a magic's refusal) on stderr, not as an error.
                if content["name"] == "stderr" and "UsageError" in content["text"]:
                    out["error"] = content["text"].strip()
            elif kind in ("execute_result", "display_data", "update_display_data"):
                text = content.get("data", {}).get("text/plain", "")
                out["text"].append(text)
                did = content.get("transient", {}).get("display_id")
                if did is not None:
                    bucket = out["updates" if kind == "update_display_data" else "displays"]
                    bucket.setdefault(did, []).append(text)
            elif kind == "error":
                out["error"] = "%s: %s" % (content["ename"], content["evalue"])
        results.append(out)
        print("cell done: %r" % code[:40], file=sys.stderr, flush=True)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print(json.dumps(results))
`;

// Inside an allocation: an IPython shell, no agent; prints one JSON line with what it saw.
const IN_ALLOCATION_PY = `
import json, os, socket
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
ip = InteractiveShell.instance()
out = {"job": os.environ.get("SLURM_JOB_ID"), "errors": []}

def run(cell):
    with capture_output() as cap:
        r = ip.run_cell(cell)
    if not r.success:
        out["errors"].append("%s: %s" % (cell, r.error_in_exec or r.error_before_exec))
    return cap.stdout + "".join(o.data.get("text/plain", "") for o in cap.outputs)

run("%load_ext hpc_jupyter")
out["ipp_start"] = run("%cluster start ipyparallel -n 4")
out["px"] = run("%px import socket; socket.gethostname()")
out["list"] = run("%cluster list")
out["ipp_stop"] = run("%cluster stop")
out["dask_start"] = run("%cluster start dask -n 4")
run("import socket; hosts = sorted(client.run(socket.gethostname).values())")
out["dask_hosts"] = ip.user_ns.get("hosts")
out["dask_stop"] = run("%cluster stop")
out["left"] = sorted(os.listdir("allocation-clusters")) if os.path.isdir("allocation-clusters") else []
print(json.dumps(out))
`;

interface CellResult {
  code: string;
  text: string[];
  displays: Record<string, string[]>;
  updates: Record<string, string[]>;
  error: string | null;
}

// Scaled to 8 nodes (an ipyparallel-engines job), `rc` sees its engines come and go again.
const ENGINES_PY = (n: number) =>
  `import time; t0 = time.time()\n` +
  `while len(rc.ids) != ${n} and time.time() - t0 < 240: time.sleep(0.2)\n` +
  `sorted(rc[:].apply_sync(__import__("socket").gethostname))`;

const CELLS = [
  '%load_ext hpc_jupyter',
  '%cluster start ipyparallel -n 4 --cluster testlab --hours 1',
  '%px import socket; socket.gethostname()',
  '%cluster list',
  '%cluster status',
  '%cluster scale 8',
  ENGINES_PY(8),
  '%cluster scale 4',
  ENGINES_PY(4),
  '%cluster stop',
];
const STOP = CELLS.length - 1;

let env: Record<string, string>;
let results: CellResult[] = [];

function runDriver(): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(JOB_PYTHON, ['-c', DRIVER_PY, JSON.stringify(CELLS)], {
      // The magics find the private agent through XDG_RUNTIME_DIR and start it with this command.
      env: { ...process.env, ...env, HPC_JUPYTER_COMMAND: `${process.execPath} ${CLI}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 1_100_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function cell(code: string): CellResult {
  const found = results.find((r) => r.code === code);
  if (found === undefined) throw new Error(`no result for ${code}`);
  return found;
}

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  await stopPrivateAgent(env);
});

describe('%cluster in a local ipykernel', () => {
  it('runs the cells: start, %px, list, status, scale, stop', { timeout: 1_200_000 }, async () => {
    const ran = await runDriver();
    results = lastJson(ran) as CellResult[];
    expect(results.map((r) => [r.code, r.error])).toEqual(CELLS.map((c) => [c, null]));
  });

  it('showed progress in one display, updated in place, until `rc` was connected', () => {
    const start = cell(CELLS[1] ?? '');
    const ids = Object.keys(start.displays);
    expect(ids).toHaveLength(1);
    const id = ids[0] ?? '';
    const shown = [...(start.displays[id] ?? []), ...(start.updates[id] ?? [])];
    expect(start.updates[id]?.length ?? 0).toBeGreaterThanOrEqual(1);
    // Before ready, it said where the job was; at the end, what it bound.
    expect(shown.some((t) => / \| (submitting|queued|starting)/.test(t))).toBe(true);
    expect(shown[shown.length - 1]).toMatch(/ready .*4\/4 engines .*`rc` is connected/);
  });

  it('%px answers from four distinct nodes', () => {
    const text = cell(CELLS[2] ?? '').text.join('\n');
    const hosts = new Set(text.match(/node\d+/g) ?? []);
    expect([...hosts].sort(), text).toEqual(['node1', 'node2', 'node3', 'node4']);
  });

  it('%cluster list and status show the session', () => {
    const list = cell(CELLS[3] ?? '').text.join('');
    expect(list).toMatch(/^ID +STATE +CLUSTER/);
    expect(list).toMatch(/ready +testlab +ipyparallel/);
    expect(cell(CELLS[4] ?? '').text.join('')).toMatch(/ipyparallel s[0-9a-f]{12} on testlab/);
  });

  it('%cluster scale 8 adds an engine job, node1..node4 twice; scale 4 stops it', () => {
    expect(cell(CELLS[5] ?? '').text.join('')).toMatch(
      /^Adding 4 node\(s\) of engines: session s[0-9a-f]{12}$/m,
    );
    const nodes = ['node1', 'node2', 'node3', 'node4'];
    const hosts = (i: number) =>
      cell(CELLS[i] ?? '')
        .text.join('')
        .match(/node\d+/g) ?? [];
    expect(hosts(6)).toEqual([...nodes, ...nodes].sort());
    expect(cell(CELLS[7] ?? '').text.join('')).toMatch(
      /^Stopping s[0-9a-f]{12} \(4 node\(s\) of engines\)$/m,
    );
    expect(hosts(8)).toEqual(nodes);
  });

  it('%cluster stop cancels the job, which leaves squeue', { timeout: 200_000 }, async () => {
    expect(cell(CELLS[STOP] ?? '').text.join('')).toMatch(/\| (cancelled|completed)/);
    const listed = await cli(['list', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const sessions = JSON.parse(listed.stdout) as { template: string; jobId?: string }[];
    const jobs = sessions.filter((s) => s.template === 'ipyparallel').map((s) => s.jobId);
    expect(jobs).toHaveLength(1);
    const jobId = jobs[0] ?? '';
    await waitLeftSqueue(jobId, 150_000, 'stop');
  });
});

describe('%cluster inside an allocation', () => {
  it(
    'starts ipyparallel and Dask on the four nodes of its own job, and stops them',
    { timeout: 1_500_000 },
    async () => {
      const ran = await cli(
        [
          'run',
          '--cluster',
          'testlab',
          '--nodes',
          '4',
          '--minutes',
          '15',
          '--',
          JOB_PYTHON,
          '-c',
          IN_ALLOCATION_PY,
        ],
        env,
        1_400_000,
      );
      const line = ran.stdout.split('\n').find((l) => l.startsWith('{"job"'));
      if (line === undefined)
        throw new Error(`no result (exit ${ran.code}):\n${ran.stdout}\n${ran.stderr}`);
      const out = JSON.parse(line) as Record<string, unknown>;
      expect(out['errors']).toEqual([]);
      expect(out['ipp_start']).toMatch(
        /ipyparallel alloc1 in this allocation \| ready \| 4\/4 engines \| `rc` is connected/,
      );
      const hosts = new Set(String(out['px']).match(/node\d+/g) ?? []);
      expect([...hosts].sort(), String(out['px'])).toEqual(['node1', 'node2', 'node3', 'node4']);
      // Nothing was submitted: the cluster is listed under this job.
      expect(out['list']).toMatch(
        new RegExp(`alloc1 +ready +\\(this job\\) +ipyparallel +${String(out['job'])}`),
      );
      expect(out['ipp_stop']).toMatch(/alloc1 in this allocation \| stopped/);
      expect(out['dask_start']).toMatch(/4\/4 workers \| `client` is connected/);
      expect(out['dask_hosts']).toEqual(['node1', 'node2', 'node3', 'node4']);
      expect(out['dask_stop']).toMatch(/in this allocation \| stopped/);
      // Stopping removed each cluster's files (its keys) again.
      expect(out['left']).toEqual([]);
    },
  );
});
