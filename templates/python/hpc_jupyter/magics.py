"""The ``%cluster`` magics: start, follow and stop engine clusters from any IPython kernel.

    %load_ext hpc_jupyter
    %cluster start dask -n 4 --hours 2 --cluster mycluster --param partition=debug
    %cluster start ipyparallel -n 4          # binds `rc`, with %px on every engine
    %cluster list | status [ID] | logs [ID] [-n LINES] | scale N [ID] | stop [ID]

Each command asks the user's hpc-jupyter agent (:mod:`hpc_jupyter.agent`), which submits the
batch job, follows it and forwards its ports; so sessions started here are the same sessions the
CLI, JupyterLab and VS Code show. ``start`` shows the job's progress while it is queued and
starting (one display, updated in place) and, once every worker or engine has registered, binds
``client`` (Dask) or ``rc`` (ipyparallel, ``%px`` active) in the user namespace, connected
through the agent (:mod:`hpc_jupyter.client`). ``scale N`` makes a Dask or ipyparallel session
run workers (engines) on N nodes in all: up by one extra job (``dask-workers``,
``ipyparallel-engines``) for the missing nodes, down by stopping the newest extra jobs; the
session's own nodes stay. ID defaults to the session last started here.
The cluster defaults to ``$HPC_JUPYTER_CLUSTER``, else ``local`` (this machine).

Inside an allocation (``SLURM_JOB_ID`` set, e.g. a kernel of a ``kernel`` session) and without
``--cluster``, ``start`` submits nothing: it starts the engines on ``-n`` nodes of that
allocation (:mod:`hpc_jupyter.allocation`), and ``stop`` ends them; those are named ``allocN``.

``start spark`` starts the Spark cluster with a Spark Connect server (``connectServer``) and
binds ``spark``, a Connect session through the agent's forward: a driver outside the job has no
other way in. Inside an allocation Spark needs ``--cluster`` (a job of its own).
"""

import argparse
import os
import shlex
import time

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .agent import connect as _connect_agent
from .allocation import AllocationCluster, allocation_nodes, in_allocation
from .files import tail

ENGINES = ("dask", "ipyparallel", "spark")
FINAL_STATES = ("completed", "failed", "cancelled", "timed-out")
# What extra jobs copy from the session they join (as the sidebar's scale does): where they run,
# for how long and each node's size; then each engine's own per-node shape.
PLACEMENT = ("partition", "account", "qos", "hours", "cpusPerTask", "memoryGiB")
WORKER_SHAPE = PLACEMENT + ("workersPerNode", "threadsPerWorker")  # extra Dask workers
ENGINE_SHAPE = PLACEMENT + ("enginesPerNode",)  # extra ipyparallel engines
# How each engine's session scales: the template of its extra jobs, what they copy, what they run.
SCALING = {
    "dask": ("dask-workers", WORKER_SHAPE, "workers"),
    "ipyparallel": ("ipyparallel-engines", ENGINE_SHAPE, "engines"),
}
# What each engine binds in the user namespace.
BOUND_NAME = {"dask": "client", "ipyparallel": "rc", "spark": "spark"}


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (shown as a short message) instead of exiting."""

    def error(self, message):
        raise UsageError("%%cluster: %s\n%s" % (message, self.format_usage().strip()))

    def exit(self, status=0, message=None):
        raise UsageError(message or self.format_help())


def _param(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("--param wants NAME=VALUE, got %r" % text)
    return name, value


def _parser():
    parser = _Parser(prog="%cluster", add_help=True)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)
    start = sub.add_parser("start", help="submit an engine cluster and wait until it is ready")
    start.add_argument("engine", choices=ENGINES)
    start.add_argument("-n", "--nodes", type=int, default=1)
    start.add_argument("--hours", type=float)
    start.add_argument("--cluster")
    start.add_argument("--param", type=_param, action="append", default=[])
    sub.add_parser("list", help="sessions the agent knows")
    for name in ("status", "stop"):
        sub.add_parser(name).add_argument("id", nargs="?")
    logs = sub.add_parser("logs", help="the end of the job's log")
    logs.add_argument("id", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=40)
    scale = sub.add_parser("scale", help="Dask, ipyparallel: this many nodes of workers in all")
    scale.add_argument("nodes", type=int)
    scale.add_argument("id", nargs="?")
    return parser


def parse(line):
    """The parsed ``%cluster`` line (an argparse.Namespace); UsageError if it is wrong."""
    return _parser().parse_args(shlex.split(line))


def start_params(args):
    """The template parameters ``%cluster start`` sends: --param values, -n and --hours."""
    params = dict(args.param)
    if args.nodes < 1:
        raise UsageError("%cluster start: -n must be at least 1")
    params["nodes"] = args.nodes
    if args.hours is not None:
        params["hours"] = int(args.hours) if float(args.hours).is_integer() else args.hours
    return params


def _raw(record):
    return (record.get("connection") or {}).get("raw") or {}


def workers_text(record):
    """"3/4 workers" (or engines) when the job reports them, else ''."""
    raw = _raw(record)
    count = raw.get("workers", raw.get("engines"))
    expected = raw.get("expected_workers", raw.get("expected_engines"))
    if count is None:
        return ""
    noun = "engines" if str(record.get("template", "")).startswith("ipyparallel") else "workers"
    return "%s/%s %s" % (count, expected if expected is not None else "?", noun)


def progress_text(record, elapsed=None):
    """One line about where a session is, for the display that is updated while it starts."""
    parts = [
        "%s %s on %s" % (record.get("template", "?"), record.get("id", "?"), record.get("cluster"))
    ]
    if record.get("jobId"):
        parts.append("job %s" % record["jobId"])
    state = record.get("state", "unknown")
    detail = state
    if state in ("queued", "unknown") and record.get("reason"):
        detail += " (%s)" % record["reason"]
    if state == "queued" and record.get("expectedStart"):
        detail += ", expected to start %s" % record["expectedStart"]
    if elapsed is not None and state not in ("ready",) + FINAL_STATES:
        detail += ", %d s" % elapsed
    parts.append(detail)
    if record.get("nodes"):
        parts.append("nodes %s" % ",".join(record["nodes"]))
    workers = workers_text(record)
    if workers:
        parts.append(workers)
    return ": ".join(parts[:1]) + " | " + " | ".join(parts[1:])


def sessions_table(records):
    rows = [("ID", "STATE", "CLUSTER", "TEMPLATE", "JOB", "NODES", "WORKERS")]
    for r in sorted(records, key=lambda r: r.get("createdAt", "")):
        rows.append(
            (
                r["id"],
                r.get("state", "?"),
                r.get("cluster", "?"),
                r.get("template", "?"),
                r.get("jobId") or "-",
                ",".join(r.get("nodes") or []) or "-",
                workers_text(r) or "-",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    )


class _Progress:
    """One output area, updated in place while a kernel runs; plain prints elsewhere."""

    def __init__(self, text):
        from IPython.display import display

        self.text = text
        self.handle = display({"text/plain": text}, raw=True, display_id=True)
        if self.handle is None:
            print(text)

    def update(self, text):
        if text == self.text:
            return
        self.text = text
        if self.handle is not None:
            self.handle.update({"text/plain": text}, raw=True)
        else:
            print(text)


@magics_class
class ClusterMagics(Magics):
    """``%cluster``: see the module's documentation."""

    # What shows a start's progress (a class taking the first line, with update(text)).
    progress_class = _Progress

    def __init__(self, shell, agent_factory=None, poll_seconds=1.0):
        super().__init__(shell)
        self._agent_factory = agent_factory or _connect_agent
        self._agent = None
        self.poll_seconds = poll_seconds
        # The session last started here: the default ID of the other commands.
        self.current = None
        # Clients bound in the user namespace, by session id, closed when it is stopped.
        self._clients = {}
        # Clusters started inside this kernel's allocation (no job, no agent), by name.
        self._allocation = {}

    def agent(self):
        if self._agent is None:
            self._agent = self._agent_factory()
        return self._agent

    @line_magic
    def cluster(self, line):
        """%cluster start ENGINE -n N [--hours H] [--cluster C] [--param k=v]... | list |
        status [ID] | logs [ID] [-n LINES] | scale N [ID] | stop [ID]"""
        args = parse(line)
        return getattr(self, "_" + args.command)(args)

    # ---- commands ---------------------------------------------------------------------------

    def _start(self, args):
        params = start_params(args)
        if args.engine == "spark":
            if in_allocation() and args.cluster is None:
                raise UsageError(
                    "%cluster start spark: Spark does not start inside this allocation; pass "
                    "--cluster NAME to run it in a job of its own."
                )
            if str(params.get("connectServer", "true")).lower() in ("false", "0", "no"):
                raise UsageError(
                    "%cluster start spark: this kernel runs outside the job, so it reaches Spark "
                    "only through a Spark Connect server; leave connectServer on."
                )
            params["connectServer"] = True
        if in_allocation() and args.cluster is None:
            return self._start_in_allocation(args)
        cluster = args.cluster or os.environ.get("HPC_JUPYTER_CLUSTER") or "local"
        agent = self.agent()
        record = agent.start(cluster, args.engine, params)
        self.current = record["id"]
        t0 = time.monotonic()
        progress = self.progress_class(progress_text(record, 0))
        try:
            record = self._wait_ready(record, progress, t0)
        except KeyboardInterrupt:
            progress.update(
                "Stopped waiting: session %s is still %s; `%%cluster stop %s` cancels it."
                % (record["id"], record.get("state"), record["id"])
            )
            return None
        return self._bind(record, progress)

    def _start_in_allocation(self, args):
        """Engines on -n nodes of the allocation this kernel runs in: nothing is submitted."""
        if args.param or args.hours is not None:
            raise UsageError(
                "%cluster start: --param and --hours are for a new job; inside an allocation "
                "only -n applies (or pass --cluster to submit a job)."
            )
        available = allocation_nodes()
        if args.nodes > available:
            raise UsageError(
                "%%cluster start: -n %d, but this allocation has %d node(s)."
                % (args.nodes, available)
            )
        name = "alloc%d" % (len(self._allocation) + 1)
        while name in self._allocation:
            name += "x"
        cluster = AllocationCluster(args.engine, args.nodes, name)
        self._allocation[name] = cluster
        self.current = name
        progress = self.progress_class("%s in this allocation | starting" % args.engine)
        try:
            value = cluster.start(progress.update)
        except (RuntimeError, OSError) as e:
            self._allocation.pop(name, None)
            self.current = None
            raise UsageError("%%cluster start: %s" % e) from None
        if args.engine == "ipyparallel":
            value.activate()
        bound = BOUND_NAME[args.engine]
        self.shell.user_ns[bound] = value
        noun = "engines" if args.engine == "ipyparallel" else "workers"
        progress.update(
            "%s %s in this allocation | ready | %d/%d %s | `%s` is connected"
            % (args.engine, name, args.nodes, args.nodes, noun, bound)
        )
        return None

    def _wait_ready(self, record, progress, t0):
        agent = self.agent()
        while True:
            record = agent.session(record["id"])
            progress.update(progress_text(record, time.monotonic() - t0))
            state = record.get("state")
            if state == "ready":
                return record
            if state in FINAL_STATES:
                tail = record.get("logTail") or ""
                raise UsageError(
                    "%%cluster: session %s %s before it was ready%s%s"
                    % (
                        record["id"],
                        state,
                        ": %s" % record["reason"] if record.get("reason") else "",
                        "\n--- end of its log ---\n%s" % tail if tail else "",
                    )
                )
            time.sleep(self.poll_seconds)

    def _bind(self, record, progress):
        from . import client as clients

        engine = record["template"]
        if engine == "dask":
            value = clients.dask(record["id"], agent=self.agent())
        elif engine == "spark":
            value = clients.spark(record["id"], agent=self.agent())
        else:
            value = clients.ipyparallel(record["id"], agent=self.agent())
            value.activate()  # %px, %%px, %autopx on every engine
        name = BOUND_NAME[engine]
        self.shell.user_ns[name] = value
        self._clients[record["id"]] = value
        progress.update("%s | `%s` is connected" % (progress_text(record), name))
        return None

    def _list(self, args):
        job = os.environ.get("SLURM_JOB_ID", "-")
        local = [
            {"id": c.name, "state": c.state, "cluster": "(this job)", "template": c.engine,
             "jobId": job}
            for c in self._allocation.values()
        ]
        remote = [] if in_allocation() and self._agent is None else self.agent().sessions()
        print(sessions_table(local + list(remote)))

    def _id(self, args):
        session_id = getattr(args, "id", None) or self.current
        if session_id is None:
            raise UsageError("%cluster: which session? Give its id (see %cluster list).")
        return session_id

    def _status(self, args):
        session_id = self._id(args)
        if session_id in self._allocation:
            c = self._allocation[session_id]
            print("%s %s in this allocation | %s | %d node(s) | files in %s"
                  % (c.engine, c.name, c.state, c.nodes, c.directory))
            return
        record = self.agent().session(session_id)
        lines = [progress_text(record)]
        for key in ("title", "reason", "sessionDir", "startedAt", "readyAt", "endedAt"):
            if record.get(key):
                lines.append("  %-11s %s" % (key + ":", record[key]))
        print("\n".join(lines))

    def _logs(self, args):
        session_id = self._id(args)
        if session_id in self._allocation:
            print(tail(self._allocation[session_id].log, args.lines))
            return
        print(self.agent().logs(session_id, lines=args.lines), end="")

    def _stop(self, args):
        session_id = self._id(args)
        if session_id in self._allocation:
            cluster = self._allocation.pop(session_id)
            cluster.stop()
            print("%s %s in this allocation | stopped" % (cluster.engine, session_id))
            return
        bound = self._clients.pop(session_id, None)
        if bound is not None:
            try:
                bound.close()
            except Exception:  # a client of a cluster that is going away may fail to say goodbye
                pass
        agent = self.agent()
        record = agent.stop(session_id)
        deadline = time.monotonic() + 120
        while record.get("state") not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(self.poll_seconds)
            record = agent.session(session_id)
        print(progress_text(record))

    def _scale(self, args):
        """Dask, ipyparallel: submits (or stops) extra worker (engine) jobs so that N nodes run
        workers (engines) in all."""
        session_id = self._id(args)
        if session_id in self._allocation:
            raise UsageError("%cluster scale: clusters inside an allocation cannot be scaled yet.")
        agent = self.agent()
        base = agent.session(session_id)
        if base.get("template") not in SCALING:
            raise UsageError("%cluster scale: only Dask and ipyparallel sessions can be scaled.")
        template, shape, noun = SCALING[base["template"]]
        extra = [
            r
            for r in agent.sessions()
            if r.get("template") == template
            and (r.get("params") or {}).get("cluster") == session_id
            and r.get("state") not in FINAL_STATES + ("stopping",)
        ]
        nodes = len(base.get("nodes") or []) or int((base.get("params") or {}).get("nodes", 1))
        total = nodes + sum(int((r.get("params") or {}).get("nodes", 1)) for r in extra)
        if args.nodes > total:
            params = {"cluster": session_id, "nodes": args.nodes - total}
            # The extra workers look like the session's own (and fit where they fit).
            base_params = base.get("params") or {}
            params.update({k: base_params[k] for k in shape if k in base_params})
            added = agent.start(base["cluster"], template, params)
            print("Adding %d node(s) of %s: session %s" % (params["nodes"], noun, added["id"]))
            return None
        # Down: stop the newest extra jobs while that keeps at least N nodes.
        for r in sorted(extra, key=lambda r: r.get("createdAt", ""), reverse=True):
            n = int((r.get("params") or {}).get("nodes", 1))
            if total - n < args.nodes:
                continue
            agent.stop(r["id"])
            total -= n
            print("Stopping %s (%d node(s) of %s)" % (r["id"], n, noun))
        if total != args.nodes:
            why = (
                "the session's own %d cannot go" % nodes
                if args.nodes < nodes
                else "extra jobs stop whole"
            )
            print("%d node(s) of %s remain (%s)." % (total, noun, why))
        return None


def load_ipython_extension(ipython):
    ipython.register_magics(ClusterMagics(ipython))
