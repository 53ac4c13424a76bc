# shellcheck shell=bash
# The pieces of a bring-up that are not daemons: Debian packages, the state dir, users and keys,
# secrets and the namespaces/bridge. Sourced by `up`; each function is idempotent.

PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge openssh-server openssh-client
  mariadb-server mariadb-client systemd iproute2 util-linux procps)

# CI runs on fresh machines: install what is missing, once, without starting the packaged system
# services (ours run from the state dir; the packaged ones would only compete for nothing).
ensure_packages() {
  local pkg missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing missing packages: ${missing[*]}"
  local own_policy=false
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# test/cluster/up: do not start services while installing\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    own_policy=true
  fi
  local rc=0
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  } >&2 || rc=$?
  if $own_policy; then rm -f /usr/sbin/policy-rc.d; fi
  ((rc == 0)) || die "apt-get install ${missing[*]} failed (exit $rc)"
}

# Directory modes matter: sshd's StrictModes rejects homes under group/world-writable parents,
# munged rejects a writable socket dir, slurmdbd a readable config.
make_state_dirs() {
  install -d -m 0755 "$STATE_DIR" "$CONF_DIR" "$LOG_DIR" "$RUN_DIR" "$RUN_DIR/munge" \
    "$SPOOL_DIR" "$HOME_ROOT"
  install -d -m 0700 "$SECRET_DIR" "$KEY_DIR" "$PID_DIR" "$SLURM_STATE_DIR" "$DB_DIR" \
    "$RUN_DIR/mysql"
  local node
  for node in "${NODES[@]}"; do install -d -m 0755 "$SPOOL_DIR/$node"; done
  install -d -m 0755 /run/sshd # sshd's privilege-separation directory
  [[ -e $STATE_MARKER ]] || echo "state dir of test/cluster (safe for down --purge)" >"$STATE_MARKER"
}

ensure_users() {
  local user
  for user in "${USERS[@]}"; do ensure_user "$user"; done
}

ensure_user() { # USER
  local user=$1 home=$HOME_ROOT/$1
  if ! getent passwd "$user" >/dev/null; then
    log "creating user $user (home $home)"
    # -p '*': no password, but not "locked" either, which sshd without PAM would reject.
    useradd --create-home --home-dir "$home" --shell /bin/bash -p '*' "$user"
    echo "$user" >>"$STATE_DIR/created-users"
  elif [[ $(getent passwd "$user" | cut -d: -f6) != "$home" ]]; then
    usermod --home "$home" "$user"
  fi
  if [[ ! -d $home ]]; then
    install -d -m 0700 -o "$user" -g "$(id -gn "$user")" "$home"
    cp -rT /etc/skel "$home"
  fi
  chown "$user:" "$home"
  chmod 0700 "$home"
  ensure_user_key "$user"
}

# The key pair lives in the state dir (root-readable, stable path for the tests) and is copied
# into the user's ~/.ssh; its public half is the user's authorized key.
ensure_user_key() { # USER
  local user=$1 key=$KEY_DIR/$1_ed25519 ssh_dir=$HOME_ROOT/$1/.ssh
  if [[ ! -s $key || ! -s $key.pub ]]; then
    rm -f "$key" "$key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$user@hpcj-cluster" -f "$key"
  fi
  chmod 0600 "$key"
  install -d -m 0700 -o "$user" -g "$(id -gn "$user")" "$ssh_dir"
  install -m 0600 -o "$user" -g "$(id -gn "$user")" "$key" "$ssh_dir/id_ed25519"
  install -m 0644 -o "$user" -g "$(id -gn "$user")" "$key.pub" "$ssh_dir/id_ed25519.pub"
  install -m 0600 -o "$user" -g "$(id -gn "$user")" "$key.pub" "$ssh_dir/authorized_keys"
}

ensure_secrets() {
  if [[ ! -s $SECRET_DIR/munge.key ]]; then
    (umask 077 && head -c 1024 /dev/urandom >"$SECRET_DIR/munge.key")
  fi
  chmod 0400 "$SECRET_DIR/munge.key"
  if [[ ! -s $SECRET_DIR/db-password ]]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$SECRET_DIR/db-password")
  fi
  if [[ ! -s $SECRET_DIR/ssh_host_ed25519_key ]]; then
    rm -f "$SECRET_DIR/ssh_host_ed25519_key" "$SECRET_DIR/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "hpcj-cluster-login" -f "$SECRET_DIR/ssh_host_ed25519_key"
  fi
}

# hpcj-head holds the bridge at 10.77.0.1; each node namespace gets eth0 = one end of a veth pair
# whose other end is a bridge port in hpcj-head. Nothing is added to the root namespace, and
# there is no default route: traffic to the outside (a DNS lookup, say) fails at once instead of
# being dropped silently and timing out.
make_network() {
  local ns node node_ns
  for ns in "$HEAD_NETNS" "${NODES[@]/#/$NETNS_PREFIX}"; do
    netns_exists "$ns" && die "network namespace $ns already exists; run test/cluster/down first"
  done
  ip netns add "$HEAD_NETNS"
  ip -n "$HEAD_NETNS" link set lo up
  ip -n "$HEAD_NETNS" link add "$BRIDGE" type bridge
  ip -n "$HEAD_NETNS" addr add "$HEAD_ADDR/24" dev "$BRIDGE"
  ip -n "$HEAD_NETNS" link set "$BRIDGE" up
  for node in "${NODES[@]}"; do
    node_ns=$(node_netns "$node")
    ip netns add "$node_ns"
    ip -n "$node_ns" link set lo up
    ip -n "$HEAD_NETNS" link add "veth-$node" type veth peer name eth0 netns "$node_ns"
    ip -n "$HEAD_NETNS" link set "veth-$node" master "$BRIDGE" up
    ip -n "$node_ns" addr add "$(node_addr "$node")/24" dev eth0
    ip -n "$node_ns" link set eth0 up
  done
}
