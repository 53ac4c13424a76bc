/**
 * The `%cluster` magics' own logic, run in the job venv's Python with an IPython shell and an
 * agent stand-in that answers like the real one (the real agent and cluster are in
 * test/e2e/magics.test.ts): parsing, the parameters sent, the progress line, the sessions table,
 * a start that follows the session from queued to ready, and one that fails with its log; and
 * that hpc_jupyter.agent looks for the agent's socket where the agent listens.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';

const PYTHON = ['/opt/hpc-jupyter/venv/bin/python', '.venv/bin/python'].find((p) => existsSync(p));

// Prints one JSON object with what each check saw.
const CHECKS_PY = `
import json, os
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from hpc_jupyter import magics

out = {}

def usage(line):
    try:
        magics.parse(line)
        return None
    except UsageError as e:
        return str(e)

out["bad_engine"] = usage("start hadoop -n 2")
out["bad_param"] = usage("start dask --param nodes")
out["no_command"] = usage("")
a = magics.parse("start dask -n 4 --hours 2 --cluster testlab --param partition=debug --param qos=x=y")
out["params"] = magics.start_params(a)
out["cluster"] = a.cluster

record = {"id": "s0123456789ab", "template": "dask", "cluster": "testlab", "jobId": "42",
          "state": "queued", "reason": "Resources", "expectedStart": "2026-01-01T10:00:00Z"}
out["queued"] = magics.progress_text(record, 12.4)
ready = dict(record, state="ready", nodes=["node1", "node2"],
             connection={"raw": {"workers": 2, "expected_workers": 2}})
out["ready"] = magics.progress_text(ready, 99)
out["table"] = magics.sessions_table([ready])


class Agent:
    """Answers as the agent would: the session goes submitting -> queued -> starting -> END."""

    def __init__(self, end):
        self.end = end
        self.states = ["queued", "queued", "starting", end]
        self.started = None

    def start(self, cluster, template, params):
        self.started = {"cluster": cluster, "template": template, "params": params}
        return {"id": "s0123456789ab", "template": template, "cluster": cluster,
                "state": "submitting"}

    def session(self, session_id):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        rec = {"id": session_id, "template": "ipyparallel", "cluster": "testlab", "state": state}
        if state == "failed":
            rec.update(reason="the controller did not start", logTail="Traceback: boom")
        return rec


shown = []


class ListProgress:
    def __init__(self, text):
        shown.append(text)

    def update(self, text):
        shown.append(text)


class Recorder(magics.ClusterMagics):
    progress_class = ListProgress

    def _bind(self, record, progress):
        progress.update("bound " + record["state"])


shell = InteractiveShell.instance()

agent = Agent("ready")
m = Recorder(shell, agent_factory=lambda: agent, poll_seconds=0)
m.cluster("start ipyparallel -n 4 --cluster testlab")
out["sent"] = agent.started
out["shown"] = shown[:]
out["current"] = m.current

shown.clear()
m2 = Recorder(shell, agent_factory=lambda: Agent("failed"), poll_seconds=0)
try:
    m2.cluster("start ipyparallel -n 4 --cluster testlab")
    out["failed"] = None
except UsageError as e:
    out["failed"] = str(e)

os.environ["SLURM_JOB_ID"] = "77"
os.environ["SLURM_JOB_NUM_NODES"] = "2"
try:
    m.cluster("start dask -n 4")
    out["in_allocation"] = None
except UsageError as e:
    out["in_allocation"] = str(e)
try:
    m.cluster("start spark -n 2 --cluster testlab")
    out["spark"] = None
except UsageError as e:
    out["spark"] = str(e)
print(json.dumps(out))
`;

interface Checks {
  bad_engine: string | null;
  bad_param: string | null;
  no_command: string | null;
  params: Record<string, unknown>;
  cluster: string;
  queued: string;
  ready: string;
  table: string;
  sent: { cluster: string; template: string; params: Record<string, unknown> };
  shown: string[];
  current: string;
  failed: string | null;
  in_allocation: string | null;
  spark: string | null;
}

function runChecks(): Checks {
  if (PYTHON === undefined) throw new Error('no job venv: run scripts/install');
  const ran = spawnSync(PYTHON, ['-c', CHECKS_PY], { encoding: 'utf8', timeout: 60_000 });
  const last = ran.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Checks;
  } catch {
    throw new Error(`no JSON from Python (exit ${ran.status}):\n${ran.stdout}\n${ran.stderr}`);
  }
}

describe('%cluster', () => {
  const checks = runChecks();

  it('refuses bad lines with a usage message', () => {
    expect(checks.bad_engine).toMatch(/invalid choice: 'hadoop'/);
    expect(checks.bad_param).toMatch(/NAME=VALUE/);
    expect(checks.no_command).toMatch(/required: command/);
  });

  it('sends -n, --hours and every --param as template parameters', () => {
    expect(checks.params).toEqual({ partition: 'debug', qos: 'x=y', nodes: 4, hours: 2 });
    expect(checks.cluster).toBe('testlab');
  });

  it('says where a session is in one line', () => {
    expect(checks.queued).toBe(
      'dask s0123456789ab on testlab | job 42 | queued (Resources), expected to start 2026-01-01T10:00:00Z, 12 s',
    );
    expect(checks.ready).toBe(
      'dask s0123456789ab on testlab | job 42 | ready | nodes node1,node2 | 2/2 workers',
    );
    expect(checks.table.split('\n')).toEqual([
      'ID             STATE  CLUSTER  TEMPLATE  JOB  NODES        WORKERS',
      's0123456789ab  ready  testlab  dask      42   node1,node2  2/2 workers',
    ]);
  });

  it('follows a start from submitting to ready, then binds', () => {
    expect(checks.sent).toEqual({
      cluster: 'testlab',
      template: 'ipyparallel',
      params: { nodes: 4 },
    });
    expect(checks.current).toBe('s0123456789ab');
    const states = checks.shown.map((t) => /\| (\w+)/.exec(t.replace(/^\S+ \S+ on \S+/, ''))?.[1]);
    expect(states.slice(0, 4)).toEqual(['submitting', 'queued', 'queued', 'starting']);
    expect(checks.shown[checks.shown.length - 1]).toBe('bound ready');
  });

  it('reports a start that failed, with its reason and log', () => {
    expect(checks.failed).toMatch(/failed before it was ready: the controller did not start/);
    expect(checks.failed).toMatch(/Traceback: boom/);
  });

  it('refuses more nodes than the allocation has, and Spark from outside its job', () => {
    expect(checks.in_allocation).toMatch(/-n 4, but this allocation has 2 node\(s\)/);
    expect(checks.spark).toMatch(/Spark Connect/);
  });
});

describe('hpc_jupyter.agent', () => {
  it('looks for the socket where the agent listens', () => {
    if (PYTHON === undefined) throw new Error('no job venv: run scripts/install');
    const uid = process.getuid?.() ?? -1;
    const cases: Record<string, string>[] = [
      { XDG_RUNTIME_DIR: '/run/user/1234' },
      { XDG_RUNTIME_DIR: 'relative/ignored', TMPDIR: '/scratch/tmp/' },
      { TMP: '/var/tmp' },
      {},
    ];
    for (const env of cases) {
      const ran = spawnSync(
        PYTHON,
        [
          '-c',
          'import json, sys; from hpc_jupyter.agent import socket_path; print(socket_path(json.loads(sys.argv[1])))',
          JSON.stringify(env),
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      // The agent takes its temp directory from its own environment (os.tmpdir()).
      for (const name of ['TMPDIR', 'TMP', 'TEMP'] as const) vi.stubEnv(name, env[name]);
      const expected = agentSocketPath(env, uid);
      vi.unstubAllEnvs();
      expect(ran.stdout.trim(), ran.stderr).toBe(expected);
    }
  });
});
