# shellcheck shell=bash
# Starts the cluster's daemons and waits for them. Sourced by `up`.
# Every daemon runs in the foreground of its own session (setsid), so the pid we record is the
# daemon itself; none of them keeps the caller's stdout open (`$(test/cluster/up)` must return).

start_daemon() { # NAME COMMAND...
  local name=$1
  shift
  # Not fd 3 (up's stdout) nor fd 9 (the lock): a daemon holding either would block the caller.
  setsid "$@" </dev/null >>"$LOG_DIR/$name.out" 2>&1 3>&- 9>&- &
  record_pid "$name" "$!"
}

# Polls COMMAND every 50 ms until it succeeds (0); gives up after SECONDS, or at once when it
# returns 2 (a daemon died: no point waiting for the timeout).
wait_for() { # DESCRIPTION SECONDS COMMAND...
  local what=$1 seconds=$2 rc
  local deadline=$(($(now_ms) + seconds * 1000))
  shift 2
  while :; do
    rc=0
    "$@" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 2)) && return 1
    if (($(now_ms) > deadline)); then
      log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.05
  done
}

still_running() { # NAME...
  local name
  for name in "$@"; do
    daemon_alive "$name" || {
      log "$name exited; see $LOG_DIR/$name.out and its own log"
      return 2
    }
  done
}

start_munged() {
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  start_daemon munged "${DAEMON_ENV[@]}" munged --foreground --socket="$MUNGE_SOCKET" \
    --key-file="$SECRET_DIR/munge.key" --pid-file="$RUN_DIR/munge/munged.pid" \
    --log-file="$LOG_DIR/munged.log" --seed-file="$SECRET_DIR/munged.seed" --num-threads=4
}

munge_ready() { still_running munged && [[ -S $MUNGE_SOCKET ]]; }

start_mariadb() {
  if [[ ! -d $DB_DIR/mysql ]]; then
    log "initialising MariaDB datadir $DB_DIR"
    mariadb-install-db --defaults-file="$CONF_DIR/my.cnf" --auth-root-authentication-method=socket \
      --skip-test-db >>"$LOG_DIR/mariadb-install.out" 2>&1 ||
      die "mariadb-install-db failed; see $LOG_DIR/mariadb-install.out"
  fi
  rm -f "$MYSQL_SOCKET"
  netns_argv "$HEAD_NETNS" "$HEAD_HOST"
  start_daemon mariadbd "${NETNS_ARGV[@]}" "${DAEMON_ENV[@]}" \
    mariadbd --defaults-file="$CONF_DIR/my.cnf"
}

mariadb_ready() {
  still_running mariadbd && [[ -S $MYSQL_SOCKET ]] &&
    mariadb-admin --defaults-file="$CONF_DIR/my.cnf" --connect-timeout=2 ping >/dev/null 2>&1
}

# The slurm database user; root logs in only as OS root over the 0700 socket directory, and
# anonymous accounts go, so other Unix users (the test users!) cannot reach the database.
grant_slurm_db_user() {
  local password
  password=$(<"$SECRET_DIR/db-password")
  mariadb --defaults-file="$CONF_DIR/my.cnf" <<EOF
DROP USER IF EXISTS ''@'localhost';
DROP USER IF EXISTS ''@'$(hostname)';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
}

start_slurmdbd() {
  netns_argv "$HEAD_NETNS" "$HEAD_HOST"
  start_daemon slurmdbd "${NETNS_ARGV[@]}" "${DAEMON_ENV[@]}" slurmdbd -D
}

slurmdbd_ready() {
  still_running slurmdbd &&
    slurm_cmd timeout 5 sacctmgr --noheader --parsable2 show cluster format=cluster >/dev/null 2>&1
}

# Cluster, QOS, accounts and associations. sacctmgr refuses to add what exists, so each command
# is allowed to fail and the result is checked as a whole.
provision_accounting() {
  local other=$OTHER_USER test=$TEST_USER
  slurm_cmd sacctmgr --immediate add cluster "$CLUSTER_NAME" >/dev/null 2>&1 || true
  slurm_cmd sacctmgr --immediate add qos debug MaxWall=01:00:00 Priority=10 >/dev/null 2>&1 || true
  slurm_cmd sacctmgr --immediate add account research,teaching cluster="$CLUSTER_NAME" \
    Description="hpc-jupyter test account" Organization=hpcj QOS=normal,debug DefaultQOS=normal \
    >/dev/null 2>&1 || true
  slurm_cmd sacctmgr --immediate add user "$test" account=research,teaching \
    DefaultAccount=research cluster="$CLUSTER_NAME" >/dev/null 2>&1 || true
  slurm_cmd sacctmgr --immediate add user "$other" account=teaching DefaultAccount=teaching \
    cluster="$CLUSTER_NAME" >/dev/null 2>&1 || true
  accounting_provisioned || die "accounting setup incomplete: $(
    slurm_cmd sacctmgr --noheader --parsable2 show assoc format=cluster,account,user 2>&1 | tr '\n' ' '
  )"
}

accounting_provisioned() {
  local assoc
  assoc=$(slurm_cmd sacctmgr --noheader --parsable2 show assoc cluster="$CLUSTER_NAME" \
    format=account,user 2>/dev/null) || return 1
  grep -qx "research|$TEST_USER" <<<"$assoc" && grep -qx "teaching|$TEST_USER" <<<"$assoc" &&
    grep -qx "teaching|$OTHER_USER" <<<"$assoc"
}

start_slurm() {
  start_slurmctld
  start_slurmds
}

start_slurmctld() {
  netns_argv "$HEAD_NETNS" "$HEAD_HOST"
  start_daemon slurmctld "${NETNS_ARGV[@]}" "${DAEMON_ENV[@]}" slurmctld -D
}

slurmctld_ready() {
  still_running slurmctld && slurm_cmd timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'
}

start_slurmds() {
  local node
  for node in "${NODES[@]}"; do
    netns_argv "$(node_netns "$node")" "$node"
    start_daemon "slurmd-$node" "${NETNS_ARGV[@]}" "${DAEMON_ENV[@]}" slurmd -D -N "$node"
  done
}

slurm_ready() {
  still_running slurmctld "${NODES[@]/#/slurmd-}" && all_nodes_idle
}

# sshd listens on the head namespace's 127.0.0.1:22 and 10.77.0.1:22 for logins inside the cluster.
# The machine reaches the login node at root-namespace 127.0.0.1:PORT the way a socket-activated
# sshd is reached (systemd's ssh.socket): systemd-socket-activate accepts each connection in the
# root namespace and starts `sshd -i` for it inside head's namespaces, with the accepted socket as
# its stdin and stdout. sshd then reads and writes the client's own TCP socket, and its forwards
# (direct-tcpip to node1:PORT) connect from head's network, as on a real login node. No relay
# copies the bytes: each relay hop (socat, two of them before) added two context switches and a
# copy to every message of a tunnelled kernel.
start_login_node() {
  if ss -Hltn "sport = :$SSH_PORT" 2>/dev/null | grep -q .; then
    die "127.0.0.1:$SSH_PORT is already in use; set HPCJ_CLUSTER_SSH_PORT to a free port"
  fi
  netns_argv "$HEAD_NETNS" "$HEAD_HOST"
  start_daemon sshd "${NETNS_ARGV[@]}" "${DAEMON_ENV[@]}" \
    /usr/sbin/sshd -D -f "$CONF_DIR/sshd_config" -E "$LOG_DIR/sshd.log"
  start_daemon ssh-gate "${DAEMON_ENV[@]}" \
    systemd-socket-activate --listen="127.0.0.1:$SSH_PORT" --accept --inetd \
    "${NETNS_ARGV[@]}" /usr/sbin/sshd -i -f "$CONF_DIR/sshd_config" -E "$LOG_DIR/sshd.log"
}

login_ready() {
  still_running sshd ssh-gate && ssh_answers "$TEST_USER"
}
