// hpc_jupyter.relay on its own, against a unix echo server standing in for a kernel's socket: a
// client with the session's certificate gets its bytes back (4 MiB too, through backpressure);
// plain TCP, TLS without a certificate, a certificate of another CA and TLS 1.2 get nothing;
// a channel whose socket is gone closes the connection; SIGTERM ends the relay. And `wait`,
// which the kernel template uses to know the kernel's sockets are up. And the selectors loop
// itself (hpc_jupyter.relay_loop) with a short handshake timeout: a client that never starts its
// handshake is dropped, and what the kernel wrote just before it closed still reaches the client.
import { execFileSync, spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { VENV_PYTHON, requireVenv } from '../runtime/job-harness.js';

const DRIVER_PY = String.raw`
import json, os, signal, socket, ssl, subprocess, sys, tempfile, threading, time
from hpc_jupyter.tls import make_tls_files

root = tempfile.mkdtemp()
echo_path = os.path.join(root, "echo")
server = socket.socket(socket.AF_UNIX)
server.bind(echo_path)
server.listen()
def echo(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)
threading.Thread(target=lambda: [threading.Thread(target=echo, args=(server.accept()[0],), daemon=True).start() for _ in iter(int, 1)], daemon=True).start()

tls_dir = os.path.join(root, "tls")
ports_file = os.path.join(root, "ports.json")
relay = subprocess.Popen([sys.executable, "-m", "hpc_jupyter.relay", "serve", "--tls-dir", tls_dir,
    "--host", "127.0.0.1", "--name", "nodeX", "--ports-file", ports_file,
    "echo=" + echo_path, "gone=" + os.path.join(root, "missing")], stderr=subprocess.PIPE)
deadline = time.time() + 30
while not os.path.exists(ports_file):
    assert time.time() < deadline and relay.poll() is None, "the relay did not start"
    time.sleep(0.05)
ports = json.load(open(ports_file))
out = {"ports": sorted(ports), "ports_mode": oct(os.stat(ports_file).st_mode & 0o777),
       "tls_modes": sorted({oct(os.stat(os.path.join(tls_dir, f)).st_mode & 0o777) for f in os.listdir(tls_dir)})}

def client_ctx(cert_dir=tls_dir, max_version=None, with_cert=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
    if with_cert:
        ctx.load_cert_chain(os.path.join(cert_dir, "cert.pem"), os.path.join(cert_dir, "key.pem"))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx

def exchange(port, ctx, payload=b"hello relay"):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if ctx is not None:
            s = ctx.wrap_socket(s, server_hostname="nodeX")
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            data = s.recv(1 << 20)
            if not data:
                break
            got += data
        s.close()
        # Closed without a byte back is a refusal too (TLS 1.3 reports a refused client
        # certificate after the handshake; a plain client just sees the connection end).
        if got == payload:
            return "echoed"
        return "refused" if not got else "got %d bytes" % len(got)
    except (OSError, ssl.SSLError) as e:
        return "refused"

other = os.path.join(root, "other")
make_tls_files(other, names=["nodeX"])
out["mtls"] = exchange(ports["echo"], client_ctx())
out["bulk"] = exchange(ports["echo"], client_ctx(), os.urandom(4 << 20))
out["plain"] = exchange(ports["echo"], None)
out["no_cert"] = exchange(ports["echo"], client_ctx(with_cert=False))
out["foreign"] = exchange(ports["echo"], client_ctx(cert_dir=other))
out["tls12"] = exchange(ports["echo"], client_ctx(max_version=ssl.TLSVersion.TLSv1_2))
out["gone"] = exchange(ports["gone"], client_ctx())
relay.send_signal(signal.SIGTERM)
out["exit"] = relay.wait(timeout=10)
out["after"] = exchange(ports["echo"], client_ctx())
out["log"] = relay.stderr.read().decode()
print(json.dumps(out))
`;

beforeAll(() => {
  requireVenv();
});

describe('hpc_jupyter.relay', () => {
  it('pipes mutual-TLS connections to unix sockets and nothing else', () => {
    const out = JSON.parse(
      execFileSync(VENV_PYTHON, ['-c', DRIVER_PY], { encoding: 'utf8', timeout: 90_000 }),
    ) as Record<string, unknown>;
    expect(out).toMatchObject({
      ports: ['echo', 'gone'],
      ports_mode: '0o600',
      tls_modes: ['0o600'],
      mtls: 'echoed',
      bulk: 'echoed',
      plain: 'refused',
      no_cert: 'refused',
      foreign: 'refused',
      tls12: 'refused',
      gone: 'refused',
      exit: 0,
      after: 'refused',
    });
    expect(String(out['log'])).toMatch(/listening on 127\.0\.0\.1, ports \d+ \d+/);
  }, 120_000);

  it('drops a silent client at the handshake timeout and flushes a closing kernel', () => {
    const out = execFileSync(
      VENV_PYTHON,
      [
        '-c',
        String.raw`
import json, os, socket, ssl, tempfile, threading, time
from hpc_jupyter.relay import ensure_tls_files, server_context
from hpc_jupyter.relay_loop import Loop
root = tempfile.mkdtemp(); tls_dir = os.path.join(root, "tls")
ensure_tls_files(tls_dir, ["127.0.0.1", "nodeX"])
path = os.path.join(root, "k"); srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen()
def kernel():
    c, _ = srv.accept(); c.sendall(b"z" * 3000000); c.close()
threading.Thread(target=kernel, daemon=True).start()
logs = []
loop = Loop(server_context(tls_dir), logs.append, 0.5, 10, 1 << 20)
port = loop.listen("127.0.0.1", path)
threading.Thread(target=loop.run, daemon=True).start()
s = socket.create_connection(("127.0.0.1", port), timeout=10); t = time.monotonic()
idle = s.recv(10)
out = {"idle": idle.decode(), "idle_s": round(time.monotonic() - t, 1), "log": logs[:]}
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="nodeX")
time.sleep(0.3)  # the kernel has written and closed before the client reads a byte
got = 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    got += len(d)
out["flushed"] = got
print(json.dumps(out))
`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const got = JSON.parse(out) as { idle: string; idle_s: number; log: string[]; flushed: number };
    // Dropped by the timeout (not at once, and well before the default 10 s), with no byte sent.
    expect(got.idle).toBe('');
    expect(got.idle_s).toBeGreaterThanOrEqual(0.4);
    expect(got.idle_s).toBeLessThan(5);
    expect(got.log).toEqual(['connection dropped: no TLS handshake within 0.5 s']);
    expect(got.flushed).toBe(3000000);
  });

  it('waits for unix sockets, and gives up when the process that should bind them ends', () => {
    const ok = spawnSync(
      VENV_PYTHON,
      [
        '-c',
        String.raw`
import os, socket, subprocess, sys, tempfile, threading, time
path = os.path.join(tempfile.mkdtemp(), "s")
def later():
    time.sleep(0.5)
    s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(); time.sleep(5)
threading.Thread(target=later, daemon=True).start()
t = time.monotonic()
subprocess.run([sys.executable, "-m", "hpc_jupyter.relay", "wait", "--timeout", "10", path], check=True)
print("%.1f" % (time.monotonic() - t))
`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(Number(ok.stdout)).toBeGreaterThanOrEqual(0.4);
    const dead = spawnSync(
      VENV_PYTHON,
      [
        '-m',
        'hpc_jupyter.relay',
        'wait',
        '--timeout',
        '10',
        '--pid',
        '999999999',
        '/nonexistent/s',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(dead.status).toBe(1);
    expect(dead.stderr).toMatch(/process 999999999 ended before \/nonexistent\/s was listening/);
  });
});
