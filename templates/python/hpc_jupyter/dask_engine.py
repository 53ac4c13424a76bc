"""Dask in a job: the client a kernel gets, and the start-up wait that makes "ready" mean
"every requested worker registered".

Usage (from templates/dask/body.sh and templates/dask-workers/body.sh):
  python -m hpc_jupyter.dask_engine wait SESSION_DIR WORKERS TIMEOUT_S [--prefix NAME]
      [--parent DIR] NODE...
  python -m hpc_jupyter.dask_engine watch SESSION_DIR
  python -m hpc_jupyter.dask_engine address SESSION_DIR
  python -m hpc_jupyter.dask_engine dashboard-port SESSION_DIR
  python -m hpc_jupyter.dask_engine scheduler --webui-key FILE ARG...
  python -m hpc_jupyter.dask_engine worker ARG...

`--prefix` counts only workers whose name starts with NAME (an extra worker job's own). `watch`
keeps "workers" in SESSION_DIR/connection.json equal to the registered count while the job runs,
so workers that join from extra jobs, or leave, show in the session. `scheduler` and `worker` run
Dask's own `dask scheduler` / `dask worker` with ARG..., under BATCH_DEFAULTS.

Dask's dashboard has no authentication of its own: the scheduler's runs behind a guard that
answers 403 to every HTTP request and WebSocket upgrade without ``Authorization: Bearer <JWS>``
signed with the job's web UI key (FILE, 0600: see :mod:`hpc_jupyter.webui`), before any of
Dask's or Bokeh's handlers sees it; the workers' HTTP servers refuse everything (see
:mod:`hpc_jupyter.dask_http_guard`). Workers run with --no-dashboard.

The scheduler address comes from the scheduler file (no secret in it); the TLS files are the
0600 ones in SESSION_DIR/dask-tls. A stall fails after TIMEOUT_S with the nodes that did not join
and the tail of each one's worker log.
"""

import importlib
import json
import os
import sys
import time

from . import session_dir as _session_dir
from . import wait_options
from .files import node_name, tail, write_private

SCHEDULER_FILE = "dask-scheduler.json"

# Dask's defaults suit a laptop that waits for its user; in a batch job every core computes, and
# Dask's own bookkeeping takes from that. Dask checks its event loop every 20 ms, samples each
# worker's threads every 10 ms for its profile, the nanny checks memory every 100 ms and the
# system monitor samples every 500 ms. An idle 4-node cluster on 2 cores took 13.5 % of a core
# that way, 3 % with these (the pi of the engine benchmark ran about 5 % faster). The dashboard
# keeps its profile and graphs, at a coarser grain. Defaults only: a value a site or a user set
# (Dask's yaml files, DASK_* variables) wins.
BATCH_DEFAULTS = {
    "distributed": {
        "admin": {"tick": {"interval": "500ms"}, "system-monitor": {"interval": "2s"}},
        "worker": {"profile": {"interval": "50ms"}, "memory": {"monitor-interval": "250ms"}},
    }
}
TLS_DIR = "dask-tls"
GUARD_MODULE = "hpc_jupyter.dask_http_guard"
GUARD_KEY_FILE_ENV = "HPCJ_WEBUI_KEY_FILE"


def security(session_dir=None):
    """A distributed.Security that presents the job's certificate and requires encryption."""
    from distributed.security import Security

    tls = os.path.join(_session_dir(session_dir), TLS_DIR)
    return Security(
        tls_ca_file=os.path.join(tls, "ca.pem"),
        tls_client_cert=os.path.join(tls, "cert.pem"),
        tls_client_key=os.path.join(tls, "key.pem"),
        require_encryption=True,
    )


def scheduler_address(session_dir=None):
    with open(os.path.join(_session_dir(session_dir), SCHEDULER_FILE)) as f:
        return json.load(f)["address"]


def dashboard_port(session_dir=None):
    """The port the scheduler's dashboard is bound to, from the scheduler file."""
    with open(os.path.join(_session_dir(session_dir), SCHEDULER_FILE)) as f:
        return int(json.load(f)["services"]["dashboard"])


def connect(session_dir=None, **kwargs):
    """A distributed.Client connected to the job's scheduler over TLS."""
    from distributed import Client

    return Client(
        scheduler_address(session_dir), security=security(session_dir), **kwargs
    )


def _log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s hpc-jupyter: %s" % (stamp, message), file=sys.stderr, flush=True)


def _count(client, prefix):
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return sum(1 for w in workers if str(w.get("name", "")).startswith(prefix))


def wait_for_workers(session_dir, expected, timeout, nodes, prefix="", tls_dir=None):
    """Returns once ``expected`` workers are registered; exits with a report after ``timeout``.

    ``tls_dir``/``prefix``: an extra worker job waits on its parent's scheduler, for its own.
    """
    deadline = time.monotonic() + timeout
    parent = tls_dir or session_dir
    scheduler_file = os.path.join(parent, SCHEDULER_FILE)
    while not os.path.exists(scheduler_file):
        if time.monotonic() >= deadline:
            sys.exit("hpc-jupyter: the Dask scheduler did not write %s" % scheduler_file)
        time.sleep(0.2)
    client = connect(parent, timeout=max(10, int(deadline - time.monotonic())))
    try:
        last = -1
        while True:
            count = _count(client, prefix)
            if count != last:
                _log("%d/%d Dask workers registered" % (count, expected))
                last = count
            if count >= expected:
                return count
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        names = {
            addr: str(w.get("name", ""))
            for addr, w in client.scheduler_info(n_workers=-1)["workers"].items()
        }
        ours = [a for a, n in names.items() if n.startswith(prefix)]
        joined = set(client.run(node_name, workers=ours).values()) if ours else set()
        missing = [n for n in nodes if n not in joined]
        report = [
            "hpc-jupyter: only %d/%d Dask workers registered within %g s; nodes without "
            "a worker: %s" % (last, expected, timeout, ", ".join(missing) or "none")
        ]
        for node in missing:
            log = os.path.join(session_dir, "logs", "dask-worker-%s.log" % node)
            report.append("--- %s (last lines of %s) ---\n%s" % (node, log, tail(log)))
        sys.exit("\n".join(report))
    finally:
        client.close()


def watch(session_dir, interval=5.0):
    """Rewrites connection.json whenever the registered worker count changes; runs until killed."""
    path = os.path.join(session_dir, "connection.json")
    client = connect(session_dir)
    while True:
        time.sleep(interval)
        try:
            count = len(client.scheduler_info(n_workers=-1)["workers"])
            with open(path) as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        if info.get("workers") != count:
            info["workers"] = count
            write_private(path, json.dumps(info) + "\n")
            _log("%d Dask workers registered" % count)


def run_cli(role, args):
    """Dask's `dask ROLE` command line (scheduler or worker) with BATCH_DEFAULTS; never returns.
    A scheduler's args start with ``--webui-key FILE``: its dashboard's key. Every HTTP server
    of the job's Dask processes is behind hpc_jupyter.dask_http_guard."""
    import dask.config
    import distributed  # noqa: F401 (loads distributed's defaults, which ours then replace)
    from distributed.cli import dask_scheduler, dask_worker

    args = list(args)
    if role == "scheduler":
        if len(args) < 2 or args[0] != "--webui-key":
            sys.exit("hpc-jupyter: dask_engine scheduler needs --webui-key FILE first")
        # A path, not the key: the guard reads the file when it is imported, just below.
        os.environ[GUARD_KEY_FILE_ENV] = args[1]
        args = args[2:]
    else:
        # The worker process the nanny starts imports the guard as it is built (see the module).
        os.environ.pop(GUARD_KEY_FILE_ENV, None)
        args = ["--preload", GUARD_MODULE] + args
    importlib.import_module(GUARD_MODULE)
    dask.config.update_defaults(BATCH_DEFAULTS)
    command = dask_scheduler.main if role == "scheduler" else dask_worker.main
    # A nanny hands its configuration to the worker process it starts, so workers get it too.
    command(args=list(args), prog_name="dask " + role)


def main(argv):
    if argv and argv[0] in ("scheduler", "worker"):
        run_cli(argv[0], argv[1:])
        return
    if len(argv) == 2 and argv[0] == "watch":
        watch(argv[1])
        return
    if len(argv) == 2 and argv[0] == "address":
        print(scheduler_address(argv[1]))
        return
    if len(argv) == 2 and argv[0] == "dashboard-port":
        print(dashboard_port(argv[1]))
        return
    if len(argv) < 4 or argv[0] != "wait":
        sys.exit(
            "usage: python -m hpc_jupyter.dask_engine wait SESSION_DIR WORKERS TIMEOUT_S "
            "[--prefix NAME] [--parent DIR] NODE... | watch SESSION_DIR | address SESSION_DIR | "
            "dashboard-port SESSION_DIR | scheduler --webui-key FILE ARG... | worker ARG..."
        )
    nodes, prefix, parent = wait_options(argv[4:])
    print(wait_for_workers(argv[1], int(argv[2]), float(argv[3]), nodes, prefix, parent))


if __name__ == "__main__":
    main(sys.argv[1:])
