# shellcheck shell=bash
# hpc-jupyter job runtime: the shell functions every template body uses. The renderer inlines this
# file into each job script, so a submitted job needs nothing from the installation. It holds no
# secret and no parameter value: those reach the job in ./job.env and files beside it.
#
# Owns: free ports, the node's address, waiting for a port, atomic private files and the
# connection file whose appearance means "ready", running a command on every node or task of the
# allocation, and cleanup on exit and on the batch system's SIGTERM before the walltime.

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

# The address other hosts (the login node, the agent's tunnels, other nodes) reach this node on.
# HPCJ_NODE_ADDRESS (e.g. set in the cluster prologue) wins; the local scheduler stays on loopback
# so a laptop never exposes a server to its network; otherwise the first of `hostname -I`.
hpcj_node_address() {
  if [ -n "${HPCJ_NODE_ADDRESS:-}" ]; then
    printf '%s\n' "$HPCJ_NODE_ADDRESS"
    return 0
  fi
  if [ "${HPC_JUPYTER_SCHEDULER:-}" = local ]; then
    printf '127.0.0.1\n'
    return 0
  fi
  local address=''
  read -r address _ < <(hostname -I 2>/dev/null)
  if [ -n "$address" ]; then
    printf '%s\n' "$address"
  else
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

HPCJ__WAIT_PORT_PY='
import os, socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pid = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else 0

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

deadline = time.monotonic() + limit
while True:
    try:
        socket.create_connection((host, port), timeout=2).close()
        sys.exit(0)
    except OSError:
        pass
    if pid and not alive(pid):
        sys.exit("hpc-jupyter: process %d ended before %s:%d was listening" % (pid, host, port))
    if time.monotonic() >= deadline:
        sys.exit("hpc-jupyter: nothing listened on %s:%d within %g s" % (host, port, limit))
    time.sleep(0.05)
'

# hpcj_wait_port HOST PORT TIMEOUT_S [PID]: returns 0 once HOST:PORT accepts connections; fails
# with a message after TIMEOUT_S seconds, or as soon as process PID (the server) has ended.
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
  hpcj_run hpcj_python -c "$HPCJ__WAIT_PORT_PY" "$@"
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
# and written atomically, readable only by the user.
hpcj_write_connection() {
  local json=${1:-}
  if ! printf '%s' "$json" | hpcj_python -c 'import json, sys
sys.exit(0 if isinstance(json.load(sys.stdin), dict) else 1)' 2>/dev/null; then
    hpcj_log "error: hpcj_write_connection needs a JSON object, got: $json"
    return 2
  fi
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

trap 'hpcj__cleanup' EXIT
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
