/**
 * The `%cluster` magics' own logic, run in the job venv's Python with an IPython shell and an
 * agent stand-in that answers like the real one (the real agent and cluster are in
 * test/e2e/magics.test.ts): parsing, the parameters sent, the progress line, the sessions table,
 * a start that follows the session from queued to ready, and one that fails with its log; what
 * `%cluster scale` starts or stops for Dask and ipyparallel sessions; and that
 * hpc_jupyter.agent looks for the agent's socket where the agent listens.
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


class ScaleAgent:
    """A cluster session and the extra sessions the agent lists beside it."""

    def __init__(self, base, extra=()):
        self.base, self.extra, self.calls = base, list(extra), []

    def session(self, session_id):
        return self.base

    def sessions(self):
        return [self.base] + self.extra

    def start(self, cluster, template, params):
        self.calls.append(["start", cluster, template, params])
        return {"id": "s0000000000ee", "template": template, "state": "submitting"}

    def stop(self, session_id):
        self.calls.append(["stop", session_id])
        return {"id": session_id, "state": "stopping"}


def scale(base, extra, line):
    import contextlib, io
    agent = ScaleAgent(base, extra)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            Recorder(shell, agent_factory=lambda: agent, poll_seconds=0).cluster(line)
        except UsageError as e:
            return {"error": str(e)}
    return {"calls": agent.calls, "printed": printed.getvalue()}


def extra(template, sid, nodes, minute, state="ready"):
    return {"id": sid, "template": template, "state": state, "params": {"cluster": BASE, "nodes": nodes},
            "createdAt": "2026-01-01T10:%02d:00Z" % minute}


BASE = "s0123456789ab"
ipp = {"id": BASE, "template": "ipyparallel", "cluster": "testlab", "state": "ready",
       "nodes": ["n1", "n2", "n3", "n4"],
       "params": {"nodes": 4, "hours": 1, "cpusPerTask": 1, "enginesPerNode": 2,
                  "startTimeoutSeconds": 60}}
older = extra("ipyparallel-engines", "s000000000001", 2, 1)
newer = extra("ipyparallel-engines", "s000000000002", 2, 2)
others = [extra("dask-workers", "s000000000003", 2, 3),
          extra("ipyparallel-engines", "s000000000004", 2, 4, state="stopping")]
out["scale_ipp_up"] = scale(ipp, others, "scale 8 " + BASE)
out["scale_ipp_down"] = scale(ipp, [older, newer] + others, "scale 6 " + BASE)
out["scale_ipp_base"] = scale(ipp, [older, newer], "scale 2 " + BASE)
dask = dict(ipp, template="dask", params={"nodes": 4, "workersPerNode": 2, "threadsPerWorker": 1})
out["scale_dask_up"] = scale(dask, [], "scale 5 " + BASE)
out["scale_spark"] = scale(dict(ipp, template="spark"), [], "scale 8 " + BASE)

agent = Agent("ready")
Recorder(shell, agent_factory=lambda: agent, poll_seconds=0).cluster(
    "start spark -n 4 --cluster testlab")
out["spark_sent"] = agent.started
try:
    Recorder(shell, agent_factory=lambda: Agent("ready"), poll_seconds=0).cluster(
        "start spark -n 4 --cluster testlab --param connectServer=false")
    out["spark_no_connect"] = None
except UsageError as e:
    out["spark_no_connect"] = str(e)

os.environ["SLURM_JOB_ID"] = "77"
os.environ["SLURM_JOB_NUM_NODES"] = "2"
try:
    m.cluster("start dask -n 4")
    out["in_allocation"] = None
except UsageError as e:
    out["in_allocation"] = str(e)
try:
    m.cluster("start spark -n 2")
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
  spark_sent: { cluster: string; template: string; params: Record<string, unknown> };
  spark_no_connect: string | null;
  scale_ipp_up: Scaled;
  scale_ipp_down: Scaled;
  scale_ipp_base: Scaled;
  scale_dask_up: Scaled;
  scale_spark: Scaled;
}

/** What `%cluster scale` asked of the agent and printed, or the usage error it raised. */
interface Scaled {
  calls?: unknown[][];
  printed?: string;
  error?: string;
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

// One Python run for every check below.
const checks = runChecks();

describe('%cluster', () => {
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

  it('refuses more nodes than the allocation has, and Spark inside it', () => {
    expect(checks.in_allocation).toMatch(/-n 4, but this allocation has 2 node\(s\)/);
    expect(checks.spark).toMatch(/pass --cluster NAME/);
  });

  it('starts Spark with a Connect server, the only way in for a kernel outside the job', () => {
    expect(checks.spark_sent).toEqual({
      cluster: 'testlab',
      template: 'spark',
      params: { nodes: 4, connectServer: true },
    });
    expect(checks.spark_no_connect).toMatch(/leave connectServer on/);
  });
});

describe('%cluster scale', () => {
  it('scales an ipyparallel session up by one ipyparallel-engines job of its shape', () => {
    expect(checks.scale_ipp_up.calls).toEqual([
      [
        'start',
        'testlab',
        'ipyparallel-engines',
        { cluster: 's0123456789ab', nodes: 4, hours: 1, cpusPerTask: 1, enginesPerNode: 2 },
      ],
    ]);
    expect(checks.scale_ipp_up.printed).toBe(
      'Adding 4 node(s) of engines: session s0000000000ee\n',
    );
  });

  it('scales down by stopping the newest extra engine jobs, never the session’s own nodes', () => {
    expect(checks.scale_ipp_down.calls).toEqual([['stop', 's000000000002']]);
    expect(checks.scale_ipp_base.calls).toEqual([
      ['stop', 's000000000002'],
      ['stop', 's000000000001'],
    ]);
    expect(checks.scale_ipp_base.printed).toContain(
      "4 node(s) of engines remain (the session's own 4 cannot go).",
    );
  });

  it('scales a Dask session with dask-workers, and refuses other engines', () => {
    expect(checks.scale_dask_up.calls).toEqual([
      [
        'start',
        'testlab',
        'dask-workers',
        { cluster: 's0123456789ab', nodes: 1, workersPerNode: 2, threadsPerWorker: 1 },
      ],
    ]);
    expect(checks.scale_spark.error).toMatch(/only Dask and ipyparallel sessions can be scaled/);
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
