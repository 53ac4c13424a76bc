# shellcheck shell=bash
# Shared helpers for the Slurm test cluster scripts (up, down, status, slurm, ssh). Sourced, not run.
# Owns the cluster's names and paths, logging, the lock, pid files and the netns helpers, so that
# every script agrees on what "our" processes and namespaces are.

# shellcheck disable=SC2034  # variables here are used by the scripts that source this file

CLUSTER_BIN=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# --- names and addresses --------------------------------------------------------------------------
STATE_DIR=${HPCJ_CLUSTER_DIR:-/var/tmp/hpcj-cluster}
SSH_PORT=${HPCJ_CLUSTER_SSH_PORT:-2222}
CLUSTER_NAME=testlab           # Slurm ClusterName and the hpc-jupyter cluster id
NETNS_PREFIX=hpcj-             # every namespace we create starts with this
HEAD_NETNS=${NETNS_PREFIX}head # slurmctld, slurmdbd, MariaDB, sshd (the login node)
HEAD_HOST="head"               # the UTS hostname of the head namespace's daemons
HEAD_ADDR=10.77.0.1
BRIDGE=hpcj-br0 # lives inside the head namespace
NODES=(node1 node2 node3 node4)
TEST_USER=hpcjtest
OTHER_USER=hpcjother
USERS=("$TEST_USER" "$OTHER_USER")

node_addr() { echo "10.77.0.1${1#node}"; } # node3 -> 10.77.0.13
node_netns() { echo "${NETNS_PREFIX}$1"; }

# --- the state dir layout -------------------------------------------------------------------------
CONF_DIR=$STATE_DIR/config # slurm.conf & co; world-readable except the secrets
SECRET_DIR=$STATE_DIR/secrets
KEY_DIR=$STATE_DIR/keys
LOG_DIR=$STATE_DIR/log
RUN_DIR=$STATE_DIR/run
PID_DIR=$RUN_DIR/pids
SPOOL_DIR=$STATE_DIR/spool
SLURM_STATE_DIR=$STATE_DIR/state
DB_DIR=$STATE_DIR/mysql
HOME_ROOT=$STATE_DIR/home
SLURM_CONF_FILE=$CONF_DIR/slurm.conf
HOSTS_FILE=$CONF_DIR/hosts
MUNGE_SOCKET=$RUN_DIR/munge/munge.socket.2
MYSQL_SOCKET=$RUN_DIR/mysql/mysqld.sock
KNOWN_HOSTS=$STATE_DIR/known_hosts
YAML_FILE=$STATE_DIR/hpc-jupyter.yaml
ENV_FILE=$STATE_DIR/env
STATE_MARKER=$STATE_DIR/.hpcj-cluster # proves a directory is ours before `down --purge` deletes it
OWNER_FILE=/run/hpcj-cluster.owner     # which state dir the live namespaces belong to
LOCK_FILE=/run/lock/hpcj-cluster.lock

# A clean environment for daemons: nothing of the caller's shell leaks into the cluster.
DAEMON_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SLURM_CONF="$SLURM_CONF_FILE")

# Daemons in stop order (reverse start order). Names are pid-file names; the value is the command
# name (/proc/PID/comm) the process must have for us to signal it.
DAEMONS=(ssh-gate sshd slurmd-node1 slurmd-node2 slurmd-node3 slurmd-node4
  slurmctld slurmdbd mariadbd munged)
daemon_comm() {
  case $1 in
    ssh-gate) echo systemd-socket- ;; # /proc/PID/comm keeps 15 characters
    slurmd-*) echo slurmd ;;
    *) echo "$1" ;;
  esac
}

# --- messages -------------------------------------------------------------------------------------
log() { printf 'hpcj-cluster: %s\n' "$*" >&2; }
die() {
  printf 'hpcj-cluster: error: %s\n' "$*" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# Runs COMMAND and logs how long it took.
step() { # DESCRIPTION COMMAND...
  local t0 what=$1
  t0=$(now_ms)
  shift
  "$@"
  log "$what ($(($(now_ms) - t0)) ms)"
}

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (namespaces, users, daemons)"; }

check_state_dir_name() {
  [[ $STATE_DIR == /* ]] || die "HPCJ_CLUSTER_DIR must be an absolute path: $STATE_DIR"
  [[ $STATE_DIR =~ ^[A-Za-z0-9/._-]+$ ]] ||
    die "HPCJ_CLUSTER_DIR may only contain letters, digits and / . _ - (it goes into config files)"
  [[ $STATE_DIR != / && $STATE_DIR != /var/tmp && $STATE_DIR != /tmp ]] ||
    die "HPCJ_CLUSTER_DIR must be a dedicated directory, not $STATE_DIR"
  if ! [[ $SSH_PORT =~ ^[0-9]+$ ]] || ((SSH_PORT < 1 || SSH_PORT > 65535)); then
    die "HPCJ_CLUSTER_SSH_PORT must be a TCP port number: $SSH_PORT"
  fi
}

# One up/down at a time on this machine: namespaces and the relay port are machine-wide.
take_lock() {
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  flock -w 120 9 || die "another test/cluster up/down is still running (lock $LOCK_FILE)"
}

# --- processes ------------------------------------------------------------------------------------
# A pid file holds "PID STARTTIME": the start time (in clock ticks since boot) guards against a
# recycled pid, so we never signal a process we did not start.
proc_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # fields after "(comm) "; comm may contain spaces
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}" # field 22 of the full line
}
proc_state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  echo "${stat%% *}"
}

record_pid() { # NAME PID
  local start
  start=$(proc_starttime "$2") || start=0
  echo "$2 $start" >"$PID_DIR/$1.pid"
}

# Prints the pid of daemon NAME if the process we recorded is still alive (zombies are not), and
# is still the program we started.
daemon_pid() {
  local file=$PID_DIR/$1.pid pid start state
  [[ -r $file ]] || return 1
  read -r pid start <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(proc_starttime "$pid" 2>/dev/null) == "$start" ]] || return 1
  state=$(proc_state "$pid") || return 1
  [[ $state != Z && $state != X ]] || return 1
  echo "$pid"
}

daemon_alive() { daemon_pid "$1" >/dev/null; }

# The comm check happens at stop time, when exec has long replaced nsenter/unshare/bash.
daemon_is_expected_program() {
  local pid=$1 name=$2 comm
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$(daemon_comm "$name")" ]]
}

# Waits up to $2 seconds (decimal) for all given pids to be gone or zombies.
wait_pids_gone() {
  local deadline=$(($(now_ms) + ${2:-5} * 1000)) pid state alive
  local -a pids
  read -r -a pids <<<"$1"
  while :; do
    alive=0
    for pid in "${pids[@]}"; do
      state=$(proc_state "$pid" 2>/dev/null) || continue
      [[ $state == Z || $state == X ]] && continue
      alive=1
    done
    ((alive == 0)) && return 0
    (($(now_ms) > deadline)) && return 1
    sleep 0.05
  done
}

# Signals the recorded daemons, waits up to SECONDS for them to go, then kills what remains.
stop_daemons() { # SECONDS NAME...
  local seconds=$1 name pid child pids=()
  shift
  for name in "$@"; do
    pid=$(daemon_pid "$name") || continue
    if ! daemon_is_expected_program "$pid" "$name"; then
      log "not stopping pid $pid: it is not $(daemon_comm "$name") any more"
      continue
    fi
    # ssh-gate starts one `sshd -i` per connection; they are its children.
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do pids+=("$child"); done
    pids+=("$pid")
  done
  ((${#pids[@]} == 0)) && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  if ! wait_pids_gone "${pids[*]}" "$seconds"; then
    log "killing what did not stop within ${seconds}s: ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait_pids_gone "${pids[*]}" 5 || log "warning: still running: ${pids[*]}"
  fi
}

# --- network namespaces ---------------------------------------------------------------------------
netns_exists() { [[ -e /run/netns/$1 && $(stat -f -c %T "/run/netns/$1" 2>/dev/null) == nsfs ]]; }

# The argv prefix that runs a command in namespace NS. With HOST, the command also gets a UTS
# namespace with that hostname (slurmctld insists that its hostname is SlurmctldHost; `srun
# hostname` should say node1..node4) and a mount namespace where the cluster's hosts file is
# /etc/hosts, so that head and node1..node4 resolve (Jupyter, Dask and Python's socket.getfqdn()
# look their own hostname up). nsenter, not `ip netns exec`: the latter remounts /sys, which hides
# the cgroup mounts that slurmd needs. Checks that the namespace exists first.
netns_argv() { # NS [HOST] -> NETNS_ARGV
  netns_exists "$1" || die "network namespace $1 does not exist (is the cluster up?)"
  NETNS_ARGV=(nsenter "--net=/run/netns/$1" --)
  if [[ -n ${2:-} ]]; then
    # shellcheck disable=SC2016  # expanded by the inner bash
    NETNS_ARGV+=(unshare --uts --mount --propagation slave -- /bin/bash -c \
      'hostname "$1" && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"' \
      _ "$2" "$HOSTS_FILE")
  fi
}

in_netns() { # NS COMMAND...
  netns_argv "$1"
  shift
  "${NETNS_ARGV[@]}" "$@"
}

# Slurm client commands as root, from the head namespace, with our config.
slurm_cmd() { in_netns "$HEAD_NETNS" "${DAEMON_ENV[@]}" "$@"; }

# --- status checks --------------------------------------------------------------------------------
# ssh options for USER: our key and known_hosts only, host key checked, never a prompt.
ssh_args() { # USER -> SSH_ARGS
  SSH_ARGS=(-F /dev/null -p "$SSH_PORT" -i "$KEY_DIR/$1_ed25519" -o IdentitiesOnly=yes
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR)
}

ssh_answers() { # USER
  ssh_args "$1"
  timeout 10 ssh "${SSH_ARGS[@]}" "$1@127.0.0.1" true </dev/null >/dev/null 2>&1
}

# Prints "node STATE" for each node, via sinfo; fails when slurmctld does not answer.
node_states() {
  local out
  out=$(slurm_cmd timeout 5 sinfo --noheader --Node --format='%N %T' 2>/dev/null) || return 1
  sort -u <<<"$out" # --Node lists a node once per partition
}

# A node is usable when slurmctld hears from it and it can take jobs: idle, mixed, allocated or
# completing, with no "*" (not responding), and not down, drained or failed.
node_state_usable() { [[ $1 =~ ^(idle|mixed|allocated|completing)$ ]]; }

all_nodes_usable() {
  local states node state
  states=$(node_states) || return 1
  for node in "${NODES[@]}"; do
    state=$(sed -n "s/^$node //p" <<<"$states")
    node_state_usable "$state" || return 1
  done
}

all_nodes_idle() {
  local states
  states=$(node_states) || return 1
  [[ $(grep -c ' idle$' <<<"$states") -eq ${#NODES[@]} ]]
}

# Cancels every queued and running job. `down` does it first, so that the accounting records say
# "cancelled"; `up` does it once slurmctld answers, for jobs that slurmctld recovered from its
# saved state after an earlier cluster was killed without `down` (they would hold nodes forever:
# their processes are gone).
cancel_jobs() {
  daemon_alive slurmctld && netns_exists "$HEAD_NETNS" || return 0
  local ids
  ids=$(slurm_cmd timeout 3 squeue --noheader --format=%A 2>/dev/null | tr '\n' ' ') || return 0
  [[ -n ${ids// /} ]] || return 0
  # shellcheck disable=SC2086  # one argument per job id
  slurm_cmd timeout 3 scancel $ids 2>/dev/null || true
}
