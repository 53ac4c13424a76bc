"""ipyparallel in a job: the client a kernel gets, and the start-up wait that makes "ready" mean
"every requested engine registered".

Usage (from templates/ipyparallel/body.sh):
  python -m hpc_jupyter.ipp_engine wait SESSION_DIR ENGINES TIMEOUT_S NODE...
  python -m hpc_jupyter.ipp_engine endpoints SESSION_DIR ADDRESS

`endpoints` prints connection.json's endpoints: one per port of the client file (no key), the
registration port named "controller" and the others "ipp-CHANNEL".

The client file (with the controller's HMAC key) is the controller's own 0600
SESSION_DIR/ipyparallel/security/ipcontroller-client.json. A stall fails after TIMEOUT_S with
the nodes that have fewer engines than expected and the tail of their engine logs.
"""

import collections
import glob
import os
import sys
import time

from . import session_dir as _session_dir
from .files import node_name, tail

PROFILE_DIR = "ipyparallel"
CLIENT_FILE = os.path.join(PROFILE_DIR, "security", "ipcontroller-client.json")
ENGINE_FILE = os.path.join(PROFILE_DIR, "security", "ipcontroller-engine.json")


def client_file(session_dir=None):
    return os.path.join(_session_dir(session_dir), CLIENT_FILE)


def connect(session_dir=None, **kwargs):
    """An ipyparallel.Client connected to the job's controller."""
    import ipyparallel

    return ipyparallel.Client(client_file(session_dir), **kwargs)


def _log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s hpc-jupyter: %s" % (stamp, message), file=sys.stderr, flush=True)


def _node_names(rc):
    return rc[:].apply_sync(node_name) if rc.ids else []


def wait_for_engines(session_dir, expected, timeout, nodes):
    """Returns once ``expected`` engines are registered; exits with a report after ``timeout``."""
    deadline = time.monotonic() + timeout
    path = client_file(session_dir)
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            sys.exit("hpc-jupyter: the ipyparallel controller did not write %s" % path)
        time.sleep(0.2)
    rc = connect(session_dir, timeout=max(10, deadline - time.monotonic()))
    try:
        last = -1
        while True:
            try:
                # Processes the controller's registration notifications while it waits.
                rc.wait_for_engines(expected, timeout=1, block=True, interactive=False)
            except TimeoutError:
                pass
            count = len(rc.ids)
            if count != last:
                _log("%d/%d ipyparallel engines registered" % (count, expected))
                last = count
            if count >= expected:
                return count
            if time.monotonic() >= deadline:
                break
        per_node = collections.Counter(_node_names(rc))
        want = collections.Counter(nodes)
        short = [n for n in want if per_node.get(n, 0) < want[n]]
        report = [
            "hpc-jupyter: only %d/%d ipyparallel engines registered within %g s; nodes "
            "missing engines: %s" % (last, expected, timeout, ", ".join(short) or "none")
        ]
        logs_dir = os.path.join(session_dir, "logs")
        for node in short:
            for log in sorted(glob.glob(os.path.join(logs_dir, "ipengine-%s-*.log" % node))):
                report.append("--- %s (last lines of %s) ---\n%s" % (node, log, tail(log)))
        sys.exit("\n".join(report))
    finally:
        rc.close()


def registration_port(session_dir):
    import json

    with open(client_file(session_dir)) as f:
        return json.load(f)["registration"]


# The ports of the client file a client connects to; hpc-jupyter's agent forwards each one
# (packages/core/src/sessions/session-attach.ts lists the same channels).
CLIENT_CHANNELS = ("registration", "control", "mux", "task", "iopub", "notification", "broadcast")


def endpoint_name(channel):
    return "controller" if channel == "registration" else "ipp-" + channel


def client_endpoints(session_dir, address):
    """connection.json's endpoints for the client file's ports, all on ``address``."""
    import json

    with open(client_file(session_dir)) as f:
        info = json.load(f)
    return [
        {"name": endpoint_name(channel), "host": address, "port": int(info[channel])}
        for channel in CLIENT_CHANNELS
        if channel in info
    ]


def main(argv):
    if len(argv) >= 2 and argv[0] == "port":
        print(registration_port(argv[1]))
        return
    if len(argv) == 3 and argv[0] == "endpoints":
        import json

        print(json.dumps(client_endpoints(argv[1], argv[2])))
        return
    if len(argv) < 4 or argv[0] != "wait":
        sys.exit(
            "usage: python -m hpc_jupyter.ipp_engine wait SESSION_DIR ENGINES TIMEOUT_S NODE... "
            "| port SESSION_DIR | endpoints SESSION_DIR ADDRESS"
        )
    print(wait_for_engines(argv[1], int(argv[2]), float(argv[3]), argv[4:]))


if __name__ == "__main__":
    main(sys.argv[1:])
