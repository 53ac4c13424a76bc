"""The relay hop alone, for bench/relay-hop.bench.ts: an echo server on a unix socket (its own
process, standing in for a kernel's socket), hpc_jupyter.relay (the selectors loop) and the
asyncio relay it replaced (relay_asyncio.py, kept here as the baseline) in front of it, and a
client doing ROUNDS small round trips on each path in turn: straight to the unix socket, and
with the session's client certificate through each relay. Prints {"samples": {"path":
[microseconds]}, "cpu_us": {"relay": CPU microseconds per round trip}}.

Usage: python relay_hop.py ROUNDS SIZE     (the venv's python, which has hpc_jupyter)
       python relay_hop.py echo SOCKET     (the echo server; started by the above)
"""

import json
import os
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WARMUP = 50


def echo(path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    server.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is server:
                conn, _ = server.accept()
                sel.register(conn, selectors.EVENT_READ)
                continue
            data = key.fileobj.recv(65536)
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
            else:
                key.fileobj.setblocking(True)
                key.fileobj.sendall(data)
                key.fileobj.setblocking(False)


def start_relay(argv, root, name, echo_path, tls_dir):
    ports_file = os.path.join(root, name + ".ports")
    proc = subprocess.Popen(
        argv + ["serve", "--tls-dir", tls_dir, "--host", "127.0.0.1", "--name", "nodeX",
                "--ports-file", ports_file, "echo=" + echo_path],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not os.path.exists(ports_file):
        if time.time() > deadline or proc.poll() is not None:
            raise SystemExit("the %s relay did not start" % name)
        time.sleep(0.05)
    with open(ports_file) as f:
        return proc, json.load(f)["echo"]


def cpu_us(proc):
    """The process's user + system CPU time so far, in microseconds."""
    with open("/proc/%d/stat" % proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def round_trip(sock, payload):
    t = time.perf_counter_ns()
    sock.sendall(payload)
    got = 0
    while got < len(payload):
        data = sock.recv(65536)
        if not data:
            raise SystemExit("a path closed mid-run")
        got += len(data)
    return (time.perf_counter_ns() - t) / 1000.0


def main(rounds, size):
    root = tempfile.mkdtemp(prefix="hpcj-relay-hop-")
    echo_path = os.path.join(root, "echo")
    tls_dir = os.path.join(root, "tls")
    procs = [subprocess.Popen([sys.executable, __file__, "echo", echo_path])]
    try:
        while not os.path.exists(echo_path):
            time.sleep(0.02)
        new, new_port = start_relay([sys.executable, "-m", "hpc_jupyter.relay"], root, "selectors",
                                    echo_path, tls_dir)
        procs.append(new)
        old, old_port = start_relay([sys.executable, os.path.join(HERE, "relay_asyncio.py")],
                                    root, "asyncio", echo_path, tls_dir)
        procs.append(old)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
        ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))

        def tls(port):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return ctx.wrap_socket(s, server_hostname="nodeX")

        direct = socket.socket(socket.AF_UNIX)
        direct.connect(echo_path)
        paths = {"direct": direct, "selectors": tls(new_port), "asyncio": tls(old_port)}
        payload = os.urandom(size)
        samples = {name: [] for name in paths}
        names = list(paths)
        cpu = {}
        for i in range(WARMUP + rounds):
            if i == WARMUP:
                cpu = {"selectors": cpu_us(new), "asyncio": cpu_us(old)}
            # Rotate which path goes first, so a burst of other work lands on all alike.
            order = names[i % 3:] + names[:i % 3]
            for name in order:
                us = round_trip(paths[name], payload)
                if i >= WARMUP:
                    samples[name].append(us)
        # CPU per round trip in each relay: what the hop costs whatever else the machine runs.
        cpu = {"selectors": (cpu_us(new) - cpu["selectors"]) / rounds,
               "asyncio": (cpu_us(old) - cpu["asyncio"]) / rounds}
        print(json.dumps({"samples": samples, "cpu_us": cpu}))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(sys.argv[2])
    else:
        main(int(sys.argv[1]), int(sys.argv[2]))
