/**
 * The second user of the security tests: run a command as `hpcjother` on this machine or inside
 * one of the test cluster's node namespaces, list the TCP ports a user's (or a process tree's)
 * sockets listen on, and probe ports as that user, telling a refusal (closed, TLS, 401/403, a
 * ZeroMQ socket that demands CURVE keys) from a service that answered.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { JOB_PYTHON } from './engines-support.js';

export const OTHER_USER = 'hpcjother';

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface AsOtherOptions {
  /** A network namespace of the test cluster (e.g. "hpcj-node2"); absent: this machine's. */
  readonly netns?: string;
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly user?: string;
}

/** Runs argv as the second user (root only), optionally inside a cluster node's namespace. */
export function asOther(argv: readonly string[], options: AsOtherOptions = {}): Promise<Ran> {
  const user = options.user ?? OTHER_USER;
  const prefix =
    options.netns === undefined ? [] : ['nsenter', `--net=/run/netns/${options.netns}`];
  const full = [...prefix, 'runuser', '-u', user, '--', ...argv];
  return run(full, options.input ?? '', options.timeoutMs ?? 60_000);
}

/** Runs argv as root, optionally inside a namespace (to read that namespace's /proc/net). */
export function asRoot(argv: readonly string[], netns?: string, input = ''): Promise<Ran> {
  const prefix = netns === undefined ? [] : ['nsenter', `--net=/run/netns/${netns}`];
  return run([...prefix, ...argv], input, 60_000);
}

function run(argv: readonly string[], input: string, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    if (program === undefined) throw new Error('empty argv');
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A command that exits without reading its input (cat FILE) must not fail the write.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly uid: number;
  readonly inode: number;
}

/** Listening TCP sockets from /proc/net/tcp and tcp6 text (pure, for a namespace's tables). */
export function parseListeners(tcp: string, tcp6: string): Listener[] {
  const out: Listener[] = [];
  for (const [text, v6] of [
    [tcp, false],
    [tcp6, true],
  ] as const) {
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      const [addrHex = '', portHex = '0'] = (f[1] ?? '').split(':');
      out.push({
        address: v6 ? v6Address(addrHex) : v4Address(addrHex),
        port: parseInt(portHex, 16),
        uid: Number(f[7]),
        inode: Number(f[9]),
      });
    }
  }
  return out;
}

function v4Address(hex: string): string {
  const bytes = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).reverse();
  return bytes.join('.');
}

function v6Address(hex: string): string {
  if (/^0{16}FFFF0000/i.test(hex)) return v4Address(hex.slice(24));
  if (/^0{24}01000000$/i.test(hex)) return '::1';
  if (/^0{32}$/.test(hex)) return '::';
  return hex;
}

/** Listening TCP sockets in a namespace (or this machine's), as root. */
export async function listenersIn(netns?: string): Promise<Listener[]> {
  const tcp = await asRoot(['cat', '/proc/net/tcp'], netns);
  const tcp6 = await asRoot(['cat', '/proc/net/tcp6'], netns);
  return parseListeners(tcp.stdout, tcp6.stdout);
}

/** The socket inodes held open by these processes and all their descendants. */
export function socketInodesOfTree(rootPids: readonly number[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process ended while we looked.
    }
  }
  const inodes = new Set<number>();
  const queue = [...rootPids];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const pid = queue.shift();
    if (pid === undefined || seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined) inodes.add(Number(m[1]));
      } catch {
        // Closed while we looked.
      }
    }
  }
  return inodes;
}

export interface SocketHolder {
  readonly pid: number;
  readonly comm: string;
  /** The Slurm job the process runs in (SLURM_JOB_ID in its environment), if any. */
  readonly jobId: string | undefined;
}

/** Which process holds each socket inode (all processes: /proc is shared by the namespaces). */
export function holdersOfInodes(inodes: ReadonlySet<number>): Map<number, SocketHolder> {
  const out = new Map<number, SocketHolder>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        const inode = Number(m?.[1]);
        if (m !== null && inodes.has(inode) && !out.has(inode)) {
          const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
          const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
          const job = environ.find((v) => v.startsWith('SLURM_JOB_ID='));
          out.set(inode, { pid: Number(entry), comm, jobId: job?.slice('SLURM_JOB_ID='.length) });
        }
      } catch {
        // Closed while we looked.
      }
    }
  }
  return out;
}

export type ProbeVerdict =
  | 'no-listener'
  | 'closed'
  | 'tls'
  | 'http-refused'
  | 'zmtp-curve'
  | 'grpc-unauthenticated'
  | 'auth-refused'
  | 'http-notfound'
  | 'http-open'
  | 'zmtp-open'
  | 'silent'
  | 'other';

export interface Probe {
  readonly host: string;
  readonly port: number;
  readonly verdict: ProbeVerdict;
  readonly detail: string;
}

/** True for a verdict that means the second user got nothing from the port. */
export function refused(verdict: ProbeVerdict): boolean {
  return [
    'no-listener',
    'closed',
    'tls',
    'http-refused',
    'zmtp-curve',
    'grpc-unauthenticated',
    'auth-refused',
  ].includes(verdict);
}

// Connects to each host:port, waits briefly for a server-first greeting (ZeroMQ sends its
// signature at once), else sends an HTTP request and reads what comes back.
const PROBE = String.raw`
import json, socket, sys
targets = json.load(sys.stdin)
out = []
def classify(host, port):
    try:
        s = socket.create_connection((host, port), timeout=3)
    except OSError as e:
        return "no-listener", str(e)
    s.settimeout(0.7)
    first = b""
    try:
        first = s.recv(64)
        if first == b"":
            return "closed", "closed before any byte"
    except socket.timeout:
        pass
    except OSError as e:
        return "closed", str(e)
    if first[:1] == b"\xff" and len(first) >= 10 and first[9:10] == b"\x7f":
        # A ZeroMQ greeting: libzmq sends the rest of its greeting (version, mechanism) once it
        # has our signature and major version.
        try:
            s.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03")
            s.settimeout(2)
            while len(first) < 32:
                more = s.recv(64 - len(first))
                if not more:
                    break
                first += more
        except OSError:
            pass
        if len(first) < 32:
            return "other", "ZMTP greeting cut short after %d bytes" % len(first)
        mech = first[12:32].rstrip(b"\x00").decode("ascii", "replace")
        if mech == "NULL":
            return "zmtp-open", "ZMTP NULL mechanism"
        if mech == "CURVE":
            return "zmtp-curve", "ZMTP mechanism CURVE"
        return "other", "ZMTP mechanism " + mech
    if len(first) == 4:
        # Four bytes unasked: PySpark's worker daemon sends the forked worker's pid, and the
        # worker then wants the job's secret, length-prefixed. Offer a wrong one.
        try:
            s.sendall(b"\x00\x00\x00\x0cnot-a-secret")
            s.settimeout(5)
            reply = s.recv(64)
        except OSError as e:
            return "closed", "after a wrong secret: " + str(e)
        if reply == b"" or b"err" in reply:
            return "auth-refused", "a wrong secret was refused (%r)" % reply[:16]
        return "other", "answered a wrong secret with %r" % reply[:40]
    verdicts = [http_get(s, host, port, first, "/")]
    for path in t_paths:
        try:
            s2 = socket.create_connection((host, port), timeout=3)
        except OSError as e:
            verdicts.append(("closed", str(e)))
            continue
        verdicts.append(http_get(s2, host, port, b"", path))
    kinds = [v[0] for v in verdicts]
    if kinds[0] != "http-notfound":
        return verdicts[0]
    # "/" is not this server's page: what counts is what its own paths answer.
    for v in verdicts[1:]:
        if v[0] not in ("http-refused", "http-notfound", "closed"):
            return v
    if "http-refused" in kinds:
        return "http-refused", "; ".join(v[1] for v in verdicts)
    return "http-notfound", "; ".join(v[1] for v in verdicts)
def http_get(s, host, port, first, path, depth=0):
    data = first
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
        s.settimeout(3)
        while len(data) < 4096:
            more = s.recv(4096)
            if not more:
                break
            data += more
    except socket.timeout:
        if not data:
            # Closed first: a server that serves one connection at a time (srun) would
            # otherwise still be waiting on this one.
            s.close()
            return silent_retry(host, port)
    except OSError as e:
        return "closed", str(e)
    finally:
        s.close()
    if not data:
        return "closed", "closed without a byte"
    if data[:1] == b"\x15" or data[:1] == b"\x16":
        return "tls", "TLS record type %d" % data[0]
    if len(data) >= 9 and data[3:4] == b"\x04":
        return grpc_call(host, port)
    if data.startswith(b"HTTP/"):
        line = data.split(b"\r\n", 1)[0].decode("latin1")
        code = line.split(" ")[1] if " " in line else "?"
        if code in ("401", "403"):
            return "http-refused", path + ": " + line
        if code == "404":
            return "http-notfound", path + ": " + line
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin1").lower()
        location = [h for h in head.split("\r\n") if h.startswith("location:")]
        if code in ("301", "302", "303", "307") and location:
            target = location[0].split(":", 1)[1].strip()
            if "/login" in target:
                # Jupyter's answer to a request without its token: the login page, nothing else.
                return "http-refused", path + ": " + line + " to the login page"
            if target.startswith("/") and depth < 3:
                # A redirect within the server (Jupyter's base URL to its default page): what
                # counts is what the page it names answers.
                try:
                    s2 = socket.create_connection((host, port), timeout=3)
                except OSError as e:
                    return "closed", str(e)
                verdict, detail = http_get(s2, host, port, b"", target, depth + 1)
                return verdict, path + " -> " + detail
        return "http-open", path + ": " + line
    return "other", repr(data[:40])
def silent_retry(host, port):
    # Length-prefixed protocols (Slurm's, Spark's RPC) wait for the 1.2 GB an HTTP request's
    # first bytes announce; a short framed message of garbage makes them decide.
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.sendall(b"\x00\x00\x00\x10" + b"\x00\x01" * 8)
        s.settimeout(5)
        data = s.recv(4096)
    except socket.timeout:
        return "silent", "accepted, answered nothing to HTTP in 3 s or to a framed message in 5 s"
    except OSError as e:
        return "closed", "framed garbage: " + str(e)
    if not data:
        return "closed", "closed on framed garbage"
    if len(data) >= 9 and data[3:4] == b"\x04":
        return grpc_call(host, port)
    return "other", "answered framed garbage with " + repr(data[:40])
def grpc_call(host, port):
    # An HTTP/2 SETTINGS frame: a gRPC server (Spark Connect). Connections are fine there; what
    # counts is whether a call without the job's token is refused.
    import grpc
    channel = grpc.insecure_channel("%s:%d" % (host, port))
    call = channel.unary_unary("/spark.connect.SparkConnectService/Config")
    try:
        call(b"", timeout=10)
    except grpc.RpcError as e:
        code = e.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return "grpc-unauthenticated", "gRPC call refused: " + str(e.details())
        return "other", "gRPC call answered %s: %s" % (code, e.details())
    finally:
        channel.close()
    return "other", "gRPC call without a token succeeded"
for t in targets:
    t_paths = t.get("paths", [])
    verdict, detail = classify(t["host"], t["port"])
    out.append({"host": t["host"], "port": t["port"], "verdict": verdict, "detail": detail})
print(json.dumps(out))
`;

/** Probes every target as the second user from `netns` (or this machine). */
export async function probeAsOther(
  targets: readonly { host: string; port: number; paths?: readonly string[] }[],
  netns?: string,
): Promise<Probe[]> {
  if (targets.length === 0) return [];
  const ran = await asOther([JOB_PYTHON, '-c', PROBE], {
    ...(netns === undefined ? {} : { netns }),
    input: JSON.stringify(targets),
    timeoutMs: 30_000 + targets.length * 10_000,
  });
  if (ran.code !== 0) throw new Error(`probe failed (${ran.code}): ${ran.stderr}`);
  return JSON.parse(ran.stdout.trim().split('\n').pop() ?? '[]') as Probe[];
}

/** The uid of a user of this machine (the cluster shares its /etc/passwd). */
export function uidOf(user: string): number {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user) return Number(f[2]);
  }
  throw new Error(`no user ${user}`);
}
