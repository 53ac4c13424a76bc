"""ipyparallel in a job: the client a kernel gets, and the start-up wait that makes "ready" mean
"every requested engine registered".

Usage (from templates/ipyparallel/body.sh and templates/ipyparallel-engines/body.sh):
  python -m hpc_jupyter.ipp_engine controller-config PROFILE_DIR
  python -m hpc_jupyter.ipp_engine wait SESSION_DIR ENGINES TIMEOUT_S [--prefix NAME]
      [--parent DIR] NODE...
  python -m hpc_jupyter.ipp_engine endpoints SESSION_DIR ADDRESS
  python -m hpc_jupyter.ipp_engine watch SESSION_DIR
  python -m hpc_jupyter.ipp_engine controller SESSION_DIR

`endpoints` prints connection.json's endpoints: one per port of the client file (no key), the
registration port named "controller" and the others "ipp-CHANNEL". `--prefix` counts only engines
whose identity starts with NAME (an extra engine job names its own engines after its session,
"SESSION-NODE-RANK"), on the controller of the session in DIR. `watch` keeps "engines" and
"workers" in SESSION_DIR/connection.json equal to the registered count while the job runs, so
engines that join from extra jobs, or leave, show in the session. `controller` prints the
"controller" endpoint of a ready ipyparallel session, as a list, and fails for anything else (a
controller without CURVE too).

`controller-config` writes the controller's ipcontroller_config.py (0600): CurveZMQ on every
socket of the controller, so that nobody without the controller's CURVE server key (only in the
0600 connection files) completes a handshake on any of its ports, not even a SUB socket on iopub
(HMAC signing alone guards what runs, not what is printed); and the HMAC key kept as well, which
ipyparallel would drop when CURVE is on. Every client here refuses a client file without the
CURVE key (`require_curve`): such a controller would serve anyone's subscription.

The client file (with the controller's HMAC key and CURVE server key) is the controller's own
0600 SESSION_DIR/ipyparallel/security/ipcontroller-client.json. A stall fails after TIMEOUT_S with
the nodes that have fewer engines than expected and the tail of their engine logs.
"""

import collections
import glob
import json
import os
import secrets
import sys
import time

from . import session_dir as _session_dir
from . import wait_options
from .files import node_name, tail, write_private

PROFILE_DIR = "ipyparallel"
CLIENT_FILE = os.path.join(PROFILE_DIR, "security", "ipcontroller-client.json")
ENGINE_FILE = os.path.join(PROFILE_DIR, "security", "ipcontroller-engine.json")


def client_file(session_dir=None):
    return os.path.join(_session_dir(session_dir), CLIENT_FILE)


CONTROLLER_CONFIG = "ipcontroller_config.py"


def write_controller_config(profile_dir):
    """Writes PROFILE_DIR/ipcontroller_config.py (0600): CURVE on, with a fresh HMAC key.

    ipyparallel empties the HMAC key when CURVE is on unless the configuration sets one; the
    key stays so that a leaked CURVE server key alone still cannot run code. The file holds the
    key, like the connection files beside it, and is read only by the controller (engines read
    ipengine_config.py).
    """
    text = (
        "# Written by hpc-jupyter (hpc_jupyter.ipp_engine controller-config): CurveZMQ on every\n"
        "# controller socket, and HMAC signing kept. Private to the user (0600).\n"
        "c.IPController.enable_curve = True\n"
        "c.Session.key = %r\n" % secrets.token_hex(32).encode("ascii")
    )
    write_private(os.path.join(profile_dir, CONTROLLER_CONFIG), text)


class NoCurveError(RuntimeError):
    """A controller's client file without a CURVE server key: its ports take anyone's SUB."""


def require_curve(path):
    """Fails unless the client file at ``path`` names a CURVE server key; returns ``path``."""
    try:
        with open(path) as f:
            key = json.load(f).get("curve_serverkey")
    except (OSError, ValueError) as e:
        raise NoCurveError("cannot read the ipyparallel client file %s: %s" % (path, e)) from e
    if not key:
        raise NoCurveError(
            "the ipyparallel controller of %s runs without CurveZMQ, so anyone on the network "
            "could read its engines' output; refusing to use it. Stop that session and start a "
            "new one (hpc-jupyter enables CurveZMQ on every controller it starts)." % path
        )
    return path


def connect(session_dir=None, **kwargs):
    """An ipyparallel.Client connected to the job's controller, over CurveZMQ only."""
    import ipyparallel

    return ipyparallel.Client(require_curve(client_file(session_dir)), **kwargs)


def _log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s hpc-jupyter: %s" % (stamp, message), file=sys.stderr, flush=True)


def _node_names(rc):
    return rc[:].apply_sync(node_name) if rc.ids else []


def engine_identities(rc):
    """Each registered engine's identity (its uuid), as the controller announced it.

    The client keeps them (id -> uuid) from the controller's registration notifications, which
    its IO thread follows; a copy that raced with an update is taken again.
    """
    for _ in range(10):
        try:
            return [str(uuid) for uuid in list(rc._engines.values())]
        except RuntimeError:  # the dict changed size during the copy
            time.sleep(0.01)
    return [str(uuid) for uuid in list(rc._engines.values())]


def _count(rc, prefix):
    if not prefix:
        return len(rc.ids)
    return sum(1 for uuid in engine_identities(rc) if uuid.startswith(prefix))


def _nodes_of(rc, prefix):
    """The node of each registered engine: from its name (SESSION-NODE-RANK) for a prefix, else
    asked of the engines themselves."""
    if not prefix:
        return _node_names(rc)
    return [
        uuid[len(prefix):].rsplit("-", 1)[0]
        for uuid in engine_identities(rc)
        if uuid.startswith(prefix)
    ]


def wait_for_engines(session_dir, expected, timeout, nodes, prefix="", parent=None):
    """Returns once ``expected`` engines are registered; exits with a report after ``timeout``.

    ``parent``/``prefix``: an extra engine job waits on its parent's controller, for its own.
    """
    deadline = time.monotonic() + timeout
    controller = parent or session_dir
    path = client_file(controller)
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            sys.exit("hpc-jupyter: the ipyparallel controller did not write %s" % path)
        time.sleep(0.2)
    rc = connect(controller, timeout=max(10, deadline - time.monotonic()))
    try:
        last = -1
        while True:
            # The client's IO thread follows registrations (and engines of other jobs leaving,
            # which rc.wait_for_engines would raise for).
            count = _count(rc, prefix)
            if count != last:
                _log("%d/%d ipyparallel engines registered" % (count, expected))
                last = count
            if count >= expected:
                return count
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        per_node = collections.Counter(_nodes_of(rc, prefix))
        want = collections.Counter(nodes)
        each = expected // max(1, len(nodes))
        short = [n for n in want if per_node.get(n, 0) < want[n] * each]
        report = [
            "hpc-jupyter: only %d/%d ipyparallel engines registered within %g s; nodes "
            "missing engines: %s" % (last, expected, timeout, ", ".join(short) or "none")
        ]
        logs_dir = os.path.join(session_dir, "logs")
        for node in short:
            for log in sorted(glob.glob(os.path.join(logs_dir, "ipengine-%s-*.log" % node))):
                report.append("--- %s (last lines of %s) ---\n%s" % (node, log, tail(log)))
        mpi_log = os.path.join(logs_dir, "ipengine-mpi.log")  # the engines as one MPI program
        if os.path.exists(mpi_log):
            report.append("--- mpiexec (last lines of %s) ---\n%s" % (mpi_log, tail(mpi_log)))
        sys.exit("\n".join(report))
    finally:
        rc.close()


def watch(session_dir, interval=1.0):
    """Rewrites connection.json whenever the registered engine count changes; runs until killed."""
    path = os.path.join(session_dir, "connection.json")
    rc = connect(session_dir)
    last = None
    while True:
        time.sleep(interval)
        count = len(rc.ids)
        if count == last:
            continue
        try:
            with open(path) as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        if info.get("engines") != count or info.get("workers") != count:
            info["engines"] = info["workers"] = count
            write_private(path, json.dumps(info) + "\n")
            _log("%d ipyparallel engines registered" % count)
        last = count


def controller_endpoint(session_dir):
    """The "controller" endpoint of a ready ipyparallel session's connection.json, as a list."""
    path = os.path.join(session_dir, "connection.json")
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("hpc-jupyter: %s is not a ready ipyparallel session: %s" % (session_dir, e))
    found = [e for e in info.get("endpoints", []) if e.get("name") == "controller"]
    if info.get("kind") != "ipyparallel" or not found:
        sys.exit(
            "hpc-jupyter: %s is a %s session, not ipyparallel" % (session_dir, info.get("kind"))
        )
    # Extra engines would join a controller without CURVE in the clear.
    require_curve(client_file(session_dir))
    return found


def registration_port(session_dir):
    with open(client_file(session_dir)) as f:
        return json.load(f)["registration"]


# The ports of the client file a client connects to; hpc-jupyter's agent forwards each one
# (packages/core/src/sessions/session-attach.ts lists the same channels).
CLIENT_CHANNELS = ("registration", "control", "mux", "task", "iopub", "notification", "broadcast")


def endpoint_name(channel):
    return "controller" if channel == "registration" else "ipp-" + channel


def client_endpoints(session_dir, address):
    """connection.json's endpoints for the client file's ports, all on ``address``."""
    with open(client_file(session_dir)) as f:
        info = json.load(f)
    return [
        {"name": endpoint_name(channel), "host": address, "port": int(info[channel])}
        for channel in CLIENT_CHANNELS
        if channel in info
    ]


def main(argv):
    if len(argv) == 2 and argv[0] == "controller-config":
        write_controller_config(argv[1])
        return
    if len(argv) >= 2 and argv[0] == "port":
        print(registration_port(argv[1]))
        return
    if len(argv) == 3 and argv[0] == "endpoints":
        print(json.dumps(client_endpoints(argv[1], argv[2])))
        return
    if len(argv) == 2 and argv[0] == "watch":
        watch(argv[1])
        return
    if len(argv) == 2 and argv[0] == "controller":
        print(json.dumps(controller_endpoint(argv[1])))
        return
    if len(argv) < 4 or argv[0] != "wait":
        sys.exit(
            "usage: python -m hpc_jupyter.ipp_engine controller-config PROFILE_DIR "
            "| wait SESSION_DIR ENGINES TIMEOUT_S [--prefix NAME] [--parent DIR] NODE... "
            "| port SESSION_DIR "
            "| endpoints SESSION_DIR ADDRESS | watch SESSION_DIR | controller SESSION_DIR"
        )
    nodes, prefix, parent = wait_options(argv[4:])
    print(wait_for_engines(argv[1], int(argv[2]), float(argv[3]), nodes, prefix, parent))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except NoCurveError as e:
        sys.exit("hpc-jupyter: %s" % e)
