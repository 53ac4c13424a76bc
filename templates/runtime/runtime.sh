# shellcheck shell=bash
# hpc-jupyter job runtime: the shell functions every template body uses. The renderer inlines this
# file into each job script, so a submitted job needs nothing from the installation. It holds no
# secret and no parameter value: those reach the job in ./job.env and files beside it.
#
# Owns: free ports, the node's address, waiting for a port and proving the job holds it, atomic
# private files and the connection file whose appearance means "ready", running a command on
# every node or task of the allocation, and cleanup on exit and on the batch system's SIGTERM
# before the walltime.

# ---- messages -------------------------------------------------------------------------------

hpcj_log() {
  printf '%s hpc-jupyter: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*" >&2
}

# Ends the job. Call it from the script itself: inside $(...) it would only end the subshell.
hpcj_die() {
  hpcj_log "error: $*"
  exit 1
}

# The job's Python (the cluster's `python` setting, through job.env).
hpcj_python() {
  "${HPCJ_PYTHON:-python3}" "$@"
}

# Runs a command in the background and waits for it. A shell only runs its traps between
# commands, so a long foreground command would delay the batch system's SIGTERM; `wait` is
# interrupted at once.
hpcj_run() {
  "$@" &
  wait "$!"
}

# ---- the node -------------------------------------------------------------------------------

# Picks the node address from `hostname -I` (the arguments after the first node's name): first
# the source address this node uses towards the submit host (the login node, where the agent's
# tunnels come from), the first node of the allocation and its own name; then the others in
# order. A private address (not globally routable: RFC 1918, shared, ULA) always wins over a
# public one, so that a node with a public interface never exposes a server on it when the
# cluster network would do. Loopback and link-local addresses are never chosen.
HPCJ__NODE_ADDRESS_PY='
import ipaddress, os, socket, sys, threading

def usable(text):
    try:
        a = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified:
        return None
    return a

def sources(name, found):
    """The source address this node would use towards each address of NAME (no packet sent)."""
    try:
        infos = socket.getaddrinfo(name, 9, type=socket.SOCK_DGRAM)
    except OSError:
        return
    for family, kind, proto, _, sockaddr in infos:
        try:
            s = socket.socket(family, kind, proto)
            try:
                s.connect(sockaddr)
                found.append(s.getsockname()[0])
            finally:
                s.close()
        except OSError:
            pass

def route_sources(name):
    """sources() in a thread, so that a slow name service costs at most 2 s."""
    found = []
    t = threading.Thread(target=sources, args=(name, found), daemon=True)
    t.start()
    t.join(2)
    return list(found)

candidates = []
for word in sys.argv[2:]:
    a = usable(word)
    if a is not None and a not in candidates:
        candidates.append(a)
preferred = []
for name in (os.environ.get("SLURM_SUBMIT_HOST", ""), sys.argv[1], socket.gethostname()):
    if not name:
        continue
    for text in route_sources(name):
        a = usable(text)
        if a in candidates and a not in preferred:
            preferred.append(a)
ordered = preferred + [a for a in candidates if a not in preferred]
private = [a for a in ordered if not a.is_global]
if not ordered:
    sys.exit(1)
print((private or ordered)[0])
'

# The address other hosts (the login node, the agent's tunnels, other nodes) reach this node on.
# HPCJ_NODE_ADDRESS (e.g. set in the cluster prologue) wins; the local scheduler stays on loopback
# so a laptop never exposes a server to its network; otherwise the address of `hostname -I` that
# reaches the submit host and the allocation, never a public one when a private one exists
# (HPCJ__NODE_ADDRESS_PY); else the host name.
hpcj_node_address() {
  if [ -n "${HPCJ_NODE_ADDRESS:-}" ]; then
    printf '%s\n' "$HPCJ_NODE_ADDRESS"
    return 0
  fi
  if [ "${HPC_JUPYTER_SCHEDULER:-}" = local ]; then
    printf '127.0.0.1\n'
    return 0
  fi
  local first='' all=''
  all=$(hostname -I 2>/dev/null) || all=''
  [ -z "${SLURM_JOB_NODELIST:-}${HPC_JUPYTER_NODES:-}" ] || first=$(hpcj_nodes 2>/dev/null | head -n 1)
  # shellcheck disable=SC2086 # one argument per address
  if ! hpcj_python -c "$HPCJ__NODE_ADDRESS_PY" "$first" $all 2>/dev/null; then
    hostname
  fi
}

# The node's name as the batch system knows it.
hpcj_node_name() {
  if [ -n "${SLURMD_NODENAME:-}" ]; then
    printf '%s\n' "$SLURMD_NODENAME"
  else
    hostname
  fi
}

# Prints a TCP port that is free on every address of this node. Bound on all addresses so that a
# port free there is also free on the node address a server binds later.
hpcj_free_port() {
  hpcj_python -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("", 0))
print(s.getsockname()[1])
s.close()'
}

# hpcj_port_free PORT: true when PORT can be bound on every address of this node now. After a
# server failed to start, this tells a port taken meanwhile (worth another try) from other causes.
hpcj_port_free() {
  hpcj_python -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# A directory for a server or kernel to start in: the argument (relative to $HOME, `~` allowed)
# or $HOME when it is empty. Fails with a message when it is not a directory.
hpcj_resolve_dir() {
  local dir=${1:-}
  # shellcheck disable=SC2088 # matches a literal "~/" typed into a form
  case $dir in
    '' | '~') dir=$HOME ;;
    '~/'*) dir=$HOME/${dir#'~/'} ;;
    /*) ;;
    *) dir=$HOME/$dir ;;
  esac
  if [ ! -d "$dir" ]; then
    hpcj_log "error: the working directory $dir does not exist or is not a directory"
    return 1
  fi
  printf '%s\n' "$dir"
}

# ---- ports ----------------------------------------------------------------------------------

# Waiting for a port, and proving who holds it. A port chosen by hpcj_free_port is released
# before the server binds it, and another user on the node may take it first (or a server may
# move to the next port when its own is taken): a connection that succeeds proves nothing. So a
# port is used or published only when /proc/net/tcp{,6} shows its listening sockets, on the
# address asked for or a wildcard one, owned by this user and, given a server's PID, held open
# (/proc/PID/fd) by that process or one below it. Without /proc (not Linux) there is nothing to
# check with, and a host that is not this node's is left to the job that runs there.
HPCJ__PORTS_PY='
import json, os, socket, sys, time

def log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s hpc-jupyter: %s" % (stamp, message), file=sys.stderr, flush=True)

def alive(pid):
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

def addresses(host):
    """The IP addresses HOST stands for, as text."""
    try:
        return {a[4][0] for a in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        return {host}

def is_local(ip):
    """True when IP is an address of this node (binding it works only then)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        s = socket.socket(family, socket.SOCK_DGRAM)
    except OSError:
        return False
    try:
        s.bind((ip, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()

def decode(hexaddr):
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6: four 32-bit words, each in host (little-endian) order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    text = socket.inet_ntop(socket.AF_INET6, raw)
    return text[7:] if text.startswith("::ffff:") and "." in text else text

def listeners(port):
    """(address, uid, inode) of every socket listening on TCP PORT in this network namespace,
    or None when /proc/net/tcp cannot be read (not Linux)."""
    found, readable = [], False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            field = row.split()
            if len(field) < 10 or field[3] != "0A":
                continue
            address, _, hexport = field[1].rpartition(":")
            if int(hexport, 16) == port:
                found.append((decode(address), int(field[7]), field[9]))
    return found if readable else None

def tree(root):
    """ROOT and every process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(children.get(pid, ()))
    return out

def socket_inodes(pids):
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes

def owner_problem(host, port, pid=0, need_listener=True):
    """Why HOST:PORT is not proven to be held by the tree of process PID (by this user when PID is
    0), or None when it is. Only sockets a connection to HOST could reach count: on one of its
    addresses or on a wildcard address."""
    ips = addresses(host)
    if not any(is_local(ip) for ip in ips):
        return None  # not on this node: its own job checked it
    found = listeners(port)
    if found is None:
        return None  # no /proc (not Linux): nothing to check with
    wild = {"0.0.0.0", "::"}
    found = [l for l in found if l[0] in ips or l[0] in wild]
    if not found:
        if need_listener:
            return "nothing on this node listens on %s:%d" % (host, port)
        return None
    uid = os.getuid()
    others = sorted({l[1] for l in found if l[1] != uid})
    if others:
        return "port %d on %s is held by another user (uid %s), not by this job" % (
            port, host, ", ".join(map(str, others)))
    if pid:
        ours = socket_inodes(tree(pid))
        strays = [l for l in found if l[2] not in ours]
        if strays:
            return "port %d on %s is held by a process outside the tree of the server (pid %d)" % (
                port, host, pid)
    return None

def pairs(info):
    """(host, port) of every endpoint a connection file publishes."""
    out = []
    host = info.get("host") or info.get("ip")
    if isinstance(host, str) and host:
        for key, value in info.items():
            if (key == "port" or key.endswith("_port")) and type(value) is int:
                out.append((host, value))
    for e in info.get("endpoints") or []:
        if isinstance(e, dict) and isinstance(e.get("host"), str) and type(e.get("port")) is int:
            out.append((e["host"], e["port"]))
    return out

def wait(host, port, limit, pid):
    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            break
        except OSError:
            pass
        if pid and not alive(pid):
            sys.exit("hpc-jupyter: process %d ended before %s:%d was listening" % (pid, host, port))
        if time.monotonic() >= deadline:
            sys.exit("hpc-jupyter: nothing listened on %s:%d within %g s" % (host, port, limit))
        time.sleep(0.05)
    problem = owner_problem(host, port, pid)
    if problem:
        sys.exit("hpc-jupyter: %s; refusing to use it" % problem)

def main(argv):
    pid = lambda i: int(argv[i]) if len(argv) > i and argv[i] else 0
    if argv[0] == "wait":
        wait(argv[1], int(argv[2]), float(argv[3]), pid(4))
    elif argv[0] == "check":
        problem = owner_problem(argv[1], int(argv[2]), pid(3))
        if problem:
            sys.exit("hpc-jupyter: %s" % problem)
    elif argv[0] == "connection":
        info = json.load(sys.stdin)
        if not isinstance(info, dict):
            sys.exit(2)
        for host, port in pairs(info):
            problem = owner_problem(host, port, need_listener=False)
            if problem:
                sys.exit("hpc-jupyter: %s; refusing to publish it" % problem)

main(sys.argv[1:])
'

# hpcj_wait_port HOST PORT TIMEOUT_S [PID]: returns 0 once HOST:PORT accepts connections and its
# listening socket is this user's, held by process PID or a process below it when PID is given;
# fails with a message after TIMEOUT_S seconds, as soon as PID has ended, or when someone else
# holds the port (another user who took it, or another process of the user's).
hpcj_wait_port() {
  if [ $# -lt 3 ]; then
    hpcj_log "usage: hpcj_wait_port HOST PORT TIMEOUT_S [PID]"
    return 2
  fi
  case $2 in
    '' | *[!0-9]*)
      hpcj_log "hpcj_wait_port: port must be a number, got '$2'"
      return 2
      ;;
  esac
  hpcj_run hpcj_python -c "$HPCJ__PORTS_PY" wait "$@"
}

# hpcj_check_port HOST PORT [PID]: fails with a message unless something listens on HOST:PORT
# and its listening sockets are this user's (and held by PID's process tree, given PID). For a
# port a body learns otherwise than by hpcj_wait_port (a server that picked its own).
hpcj_check_port() {
  if [ $# -lt 2 ]; then
    hpcj_log "usage: hpcj_check_port HOST PORT [PID]"
    return 2
  fi
  case $2 in
    '' | *[!0-9]*)
      hpcj_log "hpcj_check_port: port must be a number, got '$2'"
      return 2
      ;;
  esac
  hpcj_python -c "$HPCJ__PORTS_PY" check "$@"
}

# Checks that no endpoint of a connection file (JSON on stdin: "endpoints" [{host, port}], and
# host or ip with port and *_port) on this node is listened on by another user; a port nothing
# listens on yet (a UI that starts later) passes.
hpcj__check_published_ports() {
  hpcj_python -c "$HPCJ__PORTS_PY" connection
}

# ---- files ----------------------------------------------------------------------------------

# hpcj_write_file_atomic PATH MODE: writes stdin to PATH with permission MODE (e.g. 600). Readers
# see the old file or the complete new one, never a part: the data goes to a private temporary
# file in the same directory, which is renamed over PATH.
hpcj_write_file_atomic() {
  if [ $# -ne 2 ]; then
    hpcj_log "usage: hpcj_write_file_atomic PATH MODE"
    return 2
  fi
  local path=$1 mode=$2 dir tmp
  dir=$(dirname -- "$path")
  if ! tmp=$(umask 077 && mktemp "$dir/.hpcj-tmp.XXXXXX"); then
    hpcj_log "error: cannot create a temporary file in $dir"
    return 1
  fi
  if cat >"$tmp" && chmod "$mode" "$tmp" && mv -f -- "$tmp" "$path"; then
    return 0
  fi
  rm -f -- "$tmp"
  hpcj_log "error: cannot write $path"
  return 1
}

# hpcj_json KEY=STRING KEY:=JSON ...: prints one JSON object (`:=` takes a number, true, false
# or null as is). JSON is made by Python so no value needs shell quoting rules.
hpcj_json() {
  hpcj_python -c 'import json, sys
out = {}
for arg in sys.argv[1:]:
    key, sep, value = arg.partition("=")
    if not sep:
        sys.exit("hpcj_json: %r is not KEY=VALUE" % arg)
    if key.endswith(":"):
        out[key[:-1]] = json.loads(value)
    else:
        out[key] = value
print(json.dumps(out))' "$@"
}

# hpcj_write_connection JSON: publishes how to reach what the job started. The file appearing in
# the session directory is what "ready" means to hpc-jupyter, so it is checked to be a JSON object
# whose ports on this node no other user listens on, and written atomically, readable only by the
# user.
hpcj_write_connection() {
  local json=${1:-}
  if ! printf '%s' "$json" | hpcj_python -c 'import json, sys
sys.exit(0 if isinstance(json.load(sys.stdin), dict) else 1)' 2>/dev/null; then
    hpcj_log "error: hpcj_write_connection needs a JSON object, got: $json"
    return 2
  fi
  printf '%s' "$json" | hpcj__check_published_ports || return 1
  printf '%s\n' "$json" | hpcj_write_file_atomic "${HPCJ_SESSION_DIR:-$PWD}/connection.json" 600 &&
    hpcj_log "ready: wrote connection.json"
}

# hpcj_require_secret_file PATH WHAT: PATH (written by hpc-jupyter before submission) must exist
# and be non-empty; it is made private again in case a copy widened its mode.
hpcj_require_secret_file() {
  if [ ! -s "$1" ]; then
    hpcj_log "error: $2 is missing: $1 does not exist or is empty"
    return 1
  fi
  chmod 600 "$1"
}

# ---- engines ----------------------------------------------------------------------------------

# hpcj_engine_ready JSON PID WHAT: an engine body's last step, once the engine is up. PID is the
# process the engine lives by (its master or scheduler); WHAT says in the log that it ended. In
# the engine's own job: JSON becomes connection.json, and the job ends when PID does. In a job
# composed of the engine and a kernel (HPCJ_ENGINE is set): JSON goes to ./engine.json (0600)
# and it returns, so that the kernel's body runs next; a watcher ends the job when PID ends.
hpcj_engine_ready() {
  local json=$1 pid=$2 what=$3
  if [ -z "${HPCJ_ENGINE:-}" ]; then
    hpcj_write_connection "$json" || hpcj_die "cannot write connection.json"
    wait "$pid"
    hpcj_die "$what (status $?)"
  fi
  printf '%s' "$json" | hpcj__check_published_ports || hpcj_die "cannot publish the engine"
  printf '%s\n' "$json" | hpcj_write_file_atomic "${HPCJ_SESSION_DIR:-$PWD}/engine.json" 600 ||
    hpcj_die "cannot write engine.json"
  hpcj_log "$HPCJ_ENGINE is ready"
  (
    while [ -n "$(hpcj__alive "$pid")" ]; do sleep 2; done
    hpcj_log "error: $what; ending the job"
    kill -TERM $$
  ) &
}

# ---- the allocation -------------------------------------------------------------------------

# Node names of the allocation, one per line: HPC_JUPYTER_NODES (comma or space separated), then
# Slurm's node list, else this host HPCJ_NODE_COUNT times (the local scheduler runs every "node"
# on this machine).
hpcj_nodes() {
  if [ -n "${HPC_JUPYTER_NODES:-}" ]; then
    # shellcheck disable=SC2020 # each separator character becomes a newline
    printf '%s\n' "$HPC_JUPYTER_NODES" | tr ', \t' '\n\n\n' | grep -v '^$'
  elif [ -n "${SLURM_JOB_NODELIST:-}" ]; then
    scontrol show hostnames "$SLURM_JOB_NODELIST"
  else
    local host i=0
    host=$(hostname)
    while [ "$i" -lt "${HPCJ_NODE_COUNT:-1}" ]; do
      printf '%s\n' "$host"
      i=$((i + 1))
    done
  fi
}

# The smallest CPU count of any node in the allocation, from e.g. "72(x2),36". Since Slurm 22.05
# srun no longer inherits --cpus-per-task, and a step without it gets one CPU per task.
hpcj__slurm_min_cpus() {
  local item count min='' IFS=,
  for item in ${SLURM_JOB_CPUS_PER_NODE:-}; do
    count=${item%%(*}
    case $count in '' | *[!0-9]*) continue ;; esac
    if [ -z "$min" ] || [ "$count" -lt "$min" ]; then min=$count; fi
  done
  printf '%s\n' "$min"
}

# What every copy runs under srun: the same rank variables the local fan-out sets.
# shellcheck disable=SC2016 # expanded by the copy's shell, not here
HPCJ__RANKS_SH='export HPCJ_RANK="$SLURM_PROCID" HPCJ_NODE_RANK="$SLURM_NODEID" HPCJ_NODE_NAME="$SLURMD_NODENAME"; exec "$@"'

# hpcj__local_fan_out TASKS_PER_NODE CMD...: starts the copies in the background, passes TERM and
# INT on to them and waits for all; fails when any copy failed.
hpcj__local_fan_out() {
  local per_node=$1
  shift
  (
    pids=''
    trap 'kill -TERM $pids 2>/dev/null' TERM INT HUP
    rank=0
    node_rank=0
    for node in $(hpcj_nodes); do
      i=0
      while [ "$i" -lt "$per_node" ]; do
        HPCJ_RANK=$rank HPCJ_NODE_RANK=$node_rank HPCJ_NODE_NAME=$node "$@" &
        pids="$pids $!"
        rank=$((rank + 1))
        i=$((i + 1))
      done
      node_rank=$((node_rank + 1))
    done
    status=0
    for pid in $pids; do
      # The trap interrupts `wait`; wait again until the copy has really ended, then once more
      # for its own exit status (the shell keeps it).
      while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
      wait "$pid" || status=$?
    done
    exit "$status"
  ) &
  wait "$!"
}

# hpcj_each_node CMD...: runs the program CMD once on every node of the allocation and waits for
# all copies. Each copy sees HPCJ_RANK, HPCJ_NODE_RANK (0 on the first node) and HPCJ_NODE_NAME.
# A copy that fails does not stop the others.
hpcj_each_node() {
  if [ $# -eq 0 ]; then
    hpcj_log "usage: hpcj_each_node CMD [ARG...]"
    return 2
  fi
  case ${HPC_JUPYTER_SCHEDULER:-} in
    slurm)
      local nodes=${SLURM_JOB_NUM_NODES:-1} cpus extra=()
      cpus=$(hpcj__slurm_min_cpus)
      [ -z "$cpus" ] || extra+=("--cpus-per-task=$cpus")
      # --overlap: copies share the allocation with other steps (servers, a second fan-out)
      # instead of waiting for their CPUs.
      hpcj_run srun --nodes="$nodes" --ntasks="$nodes" --ntasks-per-node=1 --kill-on-bad-exit=0 \
        --overlap "${extra[@]}" bash -c "$HPCJ__RANKS_SH" hpcj "$@"
      ;;
    local) hpcj__local_fan_out 1 "$@" ;;
    *)
      hpcj_log "error: hpcj_each_node does not support the scheduler '${HPC_JUPYTER_SCHEDULER:-}' yet"
      return 1
      ;;
  esac
}

# hpcj_each_task CMD...: like hpcj_each_node, once per task of the allocation (nodes times tasks
# per node).
hpcj_each_task() {
  if [ $# -eq 0 ]; then
    hpcj_log "usage: hpcj_each_task CMD [ARG...]"
    return 2
  fi
  case ${HPC_JUPYTER_SCHEDULER:-} in
    slurm)
      local extra=()
      [ -z "${SLURM_CPUS_PER_TASK:-}" ] || extra+=("--cpus-per-task=$SLURM_CPUS_PER_TASK")
      hpcj_run srun --kill-on-bad-exit=0 --overlap "${extra[@]}" bash -c "$HPCJ__RANKS_SH" hpcj "$@"
      ;;
    local) hpcj__local_fan_out "${HPCJ_TASKS_PER_NODE:-1}" "$@" ;;
    *)
      hpcj_log "error: hpcj_each_task does not support the scheduler '${HPC_JUPYTER_SCHEDULER:-}' yet"
      return 1
      ;;
  esac
}

# ---- cleanup --------------------------------------------------------------------------------

HPCJ__CLEANUPS=()
HPCJ__CLEANED=''

# hpcj_on_exit CMD [ARG...]: runs CMD once when the job ends, whether it exits or is stopped by
# TERM, INT or HUP. Cleanups run newest first, before the job's remaining processes are stopped.
hpcj_on_exit() {
  HPCJ__CLEANUPS+=("$(printf '%q ' "$@")")
}

# Process ids of every descendant of this shell. Call it inside $(...): the subshell that runs
# it, whatever else that subshell started (ps, awk) and any $(...) around it are left out.
hpcj__descendants() {
  # Read before the pipeline: inside a pipeline element BASHPID is that element's own pid.
  local self=$BASHPID
  ps -e -o pid= -o ppid= 2>/dev/null | awk -v root="$$" -v self="$self" '
    { parent[$1] = $2 }
    END {
      # The child of root that we run under: its whole subtree is this computation.
      skip = self
      for (n = 0; n < 1000 && (skip in parent) && parent[skip] != root; n++) skip = parent[skip]
      for (p in parent) {
        if (p == root || p == skip) continue
        q = p
        for (n = 0; n < 1000 && (q in parent) && q != root && q != skip; n++) q = parent[q]
        if (q == root) print p
      }
    }'
}

# The pids among the arguments that are still running, once each. A zombie is not running (an
# orphan's zombie may linger where PID 1 does not reap, as in containers).
hpcj__alive() {
  local pid stat
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null || continue
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || stat=''
    stat=${stat##*) }
    [ "${stat%% *}" = Z ] || printf '%s\n' "$pid"
  done | sort -un
}

# Asks the job's processes to stop (TERM to the direct children, who stop their own: a Jupyter
# server shuts its kernels down), waits up to HPCJ_STOP_GRACE seconds, then TERMs and finally
# KILLs whatever is left. The tree is listed first because a child that ends orphans its own
# children, which then no longer look like ours; those get their TERM at once, as nobody else
# will stop them. Slurm's KillWait (30 s by default) comes after all of this.
hpcj__stop_children() {
  local tree current left pid termed=' ' tenths=0 grace=${HPCJ_STOP_GRACE:-10}
  tree=$(hpcj__descendants)
  # shellcheck disable=SC2046 # one word per pid
  kill -TERM $(jobs -p) 2>/dev/null
  left=$tree
  while :; do
    current=$(hpcj__descendants)
    # shellcheck disable=SC2086
    left=$(hpcj__alive $left $current)
    [ -n "$left" ] || return 0
    [ "$tenths" -lt $((grace * 10)) ] || break
    for pid in $left; do
      case " ${current//$'\n'/ } $termed" in
        *" $pid "*) ;;
        *)
          kill -TERM "$pid" 2>/dev/null
          termed="$termed$pid "
          ;;
      esac
    done
    sleep 0.1
    tenths=$((tenths + 1))
  done
  hpcj_log "stopping processes that are still running: ${left//$'\n'/ }"
  # shellcheck disable=SC2086
  kill -TERM $left 2>/dev/null
  sleep 1
  current=$(hpcj__descendants)
  # shellcheck disable=SC2086
  left=$(hpcj__alive $left $current)
  # shellcheck disable=SC2086
  [ -z "$left" ] || kill -KILL $left 2>/dev/null
}

hpcj__cleanup() {
  [ -z "$HPCJ__CLEANED" ] || return 0
  HPCJ__CLEANED=1
  # A second signal must not cut the cleanup short.
  trap '' TERM INT HUP
  local i
  for ((i = ${#HPCJ__CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${HPCJ__CLEANUPS[i]}" || hpcj_log "cleanup failed: ${HPCJ__CLEANUPS[i]}"
  done
  hpcj__stop_children
}

hpcj__on_signal() {
  hpcj_log "received SIG$1: stopping"
  hpcj__cleanup
  trap - EXIT
  exit "$2"
}

# hpcj__explain_exit STATUS: a job that failed because its Python lacks hpc-jupyter's job package
# (a site's own Python, where nothing installed it) says so last, with the command that makes an
# environment that has it. Checked as the job ends, after the prologue ran (it may be what puts
# that Python on the PATH), and only when it failed: a job that works pays nothing.
hpcj__explain_exit() {
  [ "$1" -ne 0 ] || return 0
  hpcj_python -c 'import importlib.util, sys
sys.exit(importlib.util.find_spec("hpc_jupyter") is None)' 2>/dev/null && return 0
  hpcj_log "error: the job's Python ${HPCJ_PYTHON:-python3} does not have hpc_jupyter, hpc-jupyter's job package. Run \`hpc-jupyter setup --cluster ${HPCJ_CLUSTER:-<this cluster>} --create-venv\` on your computer: it makes an environment with it on the cluster and sets the cluster's python to it"
}

trap 'hpcj__explain_exit $?; hpcj__cleanup' EXIT
trap 'hpcj__on_signal TERM 143' TERM
trap 'hpcj__on_signal INT 130' INT
trap 'hpcj__on_signal HUP 129' HUP

# ---- the session ----------------------------------------------------------------------------

# Called by every job script before the prologue: the job starts in its session directory (the
# scheduler's working directory), keeps it private and reads its environment from ./job.env.
hpcj_session_start() {
  chmod 700 . || hpcj_die "cannot make the session directory $PWD private (chmod 700)"
  [ -f ./job.env ] || hpcj_die "no job.env in $PWD: a job must start in its session directory"
  # shellcheck disable=SC1091 # written by hpc-jupyter beside this script
  . ./job.env || hpcj_die "cannot read $PWD/job.env"
  export HPCJ_SESSION_DIR=${HPCJ_SESSION_DIR:-$PWD} HPCJ_PYTHON=${HPCJ_PYTHON:-python3}
  hpcj_log "session ${HPCJ_SESSION_ID:-?} (${HPCJ_TEMPLATE:-?}) on $(hpcj_node_name)${SLURM_JOB_ID:+, Slurm job $SLURM_JOB_ID}"
}
