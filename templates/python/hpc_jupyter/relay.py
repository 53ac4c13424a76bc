"""The authenticated way into a job's kernel: mutual TLS on the node's address, piped to the
kernel's unix (ipc) sockets, which live in a private 0700 directory no one else can open.

Usage (from the job templates):
  python -m hpc_jupyter.relay serve --tls-dir DIR --host ADDRESS --ports-file FILE \\
      [--name NAME]... CHANNEL=SOCKET...
  python -m hpc_jupyter.relay wait --timeout S [--pid PID] SOCKET...

``serve`` listens on one TLS port per CHANNEL (port 0: the relay binds it itself, so no other
process can take it between choosing and binding), writes ``{"CHANNEL": port, ...}`` to FILE
(0600, atomically) once every port listens, and then pipes each connection, byte for byte, to
that channel's SOCKET. A connection is only piped after its TLS 1.3 handshake proved a client
certificate signed by the job's own CA (DIR/ca.pem, made by :mod:`hpc_jupyter.tls` with the
CA's key thrown away), so only someone who can read the 0600 files in the session directory
gets in: the agent, which copies them into memory. Everyone else on the cluster network gets a
failed handshake and not a byte of the kernel's output. The relay never looks into the stream
(it carries ZeroMQ's ZMTP, which the kernel and the agent's side speak), so a kernel restarted
on the same sockets is reached again by the clients' own reconnects. The data path, one thread
and one ``selectors`` loop, is :mod:`hpc_jupyter.relay_loop`.

Missing TLS files are made first, with ADDRESS and each NAME (the node's name) as the
certificate's subjectAltNames, which the agent checks the certificate against.

``wait`` returns once every SOCKET accepts a connection; it fails after S seconds, or as soon as
process PID (the kernel) has ended.
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import time

from .files import write_private
from .relay_loop import Loop

TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
# A client that connects and never finishes its handshake is dropped after this long.
HANDSHAKE_TIMEOUT_S = 10.0
# More connections than any client set needs (the agent opens a few per notebook client).
MAX_CONNECTIONS = 1024
# Pause reading one side while the other side's send buffer holds this much.
HIGH_WATER = 4 * 1024 * 1024


def _log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s hpc-jupyter relay: %s" % (stamp, message), file=sys.stderr, flush=True)


def server_context(tls_dir):
    """TLS 1.3 only, our certificate, and a client certificate signed by the job's CA required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
    ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def ensure_tls_files(tls_dir, names):
    """Makes the job's CA, certificate and key unless all three are there (a restarted relay)."""
    if all(os.path.exists(os.path.join(tls_dir, f)) for f in TLS_FILES):
        return
    from .tls import make_tls_files  # cryptography: only imported when the files are made

    make_tls_files(tls_dir, names=names)


def serve(args):
    routes = []
    for item in args.routes:
        channel, sep, path = item.partition("=")
        if not sep or not channel or not path:
            raise SystemExit("hpc-jupyter relay: %r is not CHANNEL=SOCKET" % item)
        routes.append((channel, path))
    ensure_tls_files(args.tls_dir, [args.host] + list(args.name))
    loop = Loop(server_context(args.tls_dir), _log, HANDSHAKE_TIMEOUT_S, MAX_CONNECTIONS, HIGH_WATER)
    # Signals wake the loop through a socket (set_wakeup_fd); the handlers only flag the stop.
    wake_r, wake_w = socket.socketpair()
    for s in (wake_r, wake_w):
        s.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())

    def stop(*_):
        loop.stop = True

    def woken():
        try:
            wake_r.recv(4096)
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    loop.watch(wake_r, woken)
    ports = {channel: loop.listen(args.host, path) for channel, path in routes}
    write_private(args.ports_file, json.dumps(ports) + "\n")
    _log("listening on %s, ports %s" % (args.host, " ".join(map(str, ports.values()))))
    loop.run()
    loop.close()


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def wait_sockets(paths, timeout, pid=0):
    """Returns once every unix socket in ``paths`` accepts; raises SystemExit otherwise."""
    deadline = time.monotonic() + timeout
    pending = list(paths)
    while pending:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(pending[0])
            pending.pop(0)
            continue
        except OSError:
            pass
        finally:
            s.close()
        if pid and not _alive(pid):
            raise SystemExit(
                "hpc-jupyter: process %d ended before %s was listening" % (pid, pending[0])
            )
        if time.monotonic() >= deadline:
            raise SystemExit(
                "hpc-jupyter: nothing listened on %s within %g s" % (pending[0], timeout)
            )
        time.sleep(0.05)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hpc_jupyter.relay")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--tls-dir", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--ports-file", required=True)
    p.add_argument("--name", action="append", default=[])
    p.add_argument("routes", nargs="+", metavar="CHANNEL=SOCKET")
    w = sub.add_parser("wait")
    w.add_argument("--timeout", type=float, default=60.0)
    w.add_argument("--pid", type=int, default=0)
    w.add_argument("paths", nargs="+", metavar="SOCKET")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    else:
        wait_sockets(args.paths, args.timeout, args.pid)


if __name__ == "__main__":
    main()
