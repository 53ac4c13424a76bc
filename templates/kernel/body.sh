# shellcheck shell=bash
# An IPython kernel (ipykernel) on the first node of the allocation. hpc-jupyter writes the
# kernel's HMAC key to ./kernel-key (0600) before submission; the kernel's own connection file
# (./runtime/kernel.json, 0600) is the only other place it is written.
#
# Nobody but the owner may read a byte of the kernel's output (its iopub channel answers any
# subscriber, and HMAC signing guards only what it executes). So the kernel listens on no TCP
# port: its five sockets are unix (ipc) sockets in a private 0700 directory on the node, and the
# only way in from outside is hpc_jupyter.relay: five TLS 1.3 ports on the node's address that
# require a client certificate signed by this job's CA (./kernel-tls, 0600), and pipe each
# authenticated connection to one of the sockets. connection.json names the relay's ports and
# the certificate files (never their content, nor the key).

key_file=$PWD/kernel-key
hpcj_require_secret_file "$key_file" "the kernel's HMAC key" || exit 1
# Files Jupyter writes at run time (with keys in them) stay in the private session directory.
export JUPYTER_RUNTIME_DIR=$PWD/runtime
[ -d "$JUPYTER_RUNTIME_DIR" ] || mkdir -m 700 "$JUPYTER_RUNTIME_DIR" ||
  hpcj_die "cannot create $JUPYTER_RUNTIME_DIR"
kernel_file=$JUPYTER_RUNTIME_DIR/kernel.json
tls_dir=$PWD/kernel-tls
work_dir=$(hpcj_resolve_dir "${HPCJ_PARAM_WORKING_DIRECTORY:-}") || exit 1
address=$(hpcj_node_address)
node=$(hpcj_node_name)

# A unix socket's path must fit in 107 bytes, which a session directory under $HOME may not: the
# sockets go to a short private directory on the node's own disk ($TMPDIR if its path is short),
# removed when the job ends. ipykernel names them <ip>-<port>: ports 1-5 keep the names fixed,
# so a restarted kernel binds the same five paths again.
ipc_base=${TMPDIR:-/tmp}
if [ "${#ipc_base}" -gt 64 ] || [ ! -d "$ipc_base" ] || [ ! -w "$ipc_base" ]; then ipc_base=/tmp; fi
ipc_dir=$(mktemp -d "$ipc_base/hpcj-XXXXXX") ||
  hpcj_die "cannot create a private directory for the kernel's sockets in $ipc_base"
hpcj_on_exit rm -rf -- "$ipc_dir"
ipc_prefix=$ipc_dir/k
channels=(shell iopub stdin control hb)
sockets=()
routes=()
for i in "${!channels[@]}"; do
  sockets+=("$ipc_prefix-$((i + 1))")
  routes+=("${channels[i]}=$ipc_prefix-$((i + 1))")
done

hpcj_python -c 'import json, os, sys
try:
    import hpc_jupyter.relay  # noqa: F401
except ImportError:
    sys.exit("hpc-jupyter: error: the kernel needs hpc-jupyter\x27s Python package (templates/python) "
             "in the job\x27s Python %s: install it there (pip install PATH/templates/python)" % sys.executable)
key_file, kernel_file, prefix = sys.argv[1:4]
with open(key_file) as f:
    key = f.read().strip()
info = {"ip": prefix, "transport": "ipc", "signature_scheme": "hmac-sha256", "key": key,
        "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
tmp = kernel_file + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(info, f)
os.replace(tmp, kernel_file)' "$key_file" "$kernel_file" "$ipc_prefix" ||
  hpcj_die "cannot write $kernel_file; see the message above"

# In a job that also runs an engine (HPCJ_ENGINE, e.g. spark-kernel), the kernel runs the
# engine's start-up code as it starts: `spark` and `sc`, `client` or `rc` in the notebook
# (templates/python/hpc_jupyter/startup.py). It runs again after every restart.
kernel_args=()
engine_field=()
if [ -n "${HPCJ_ENGINE:-}" ]; then
  kernel_args+=('--IPKernelApp.exec_lines=from hpc_jupyter.startup import *')
  engine_field+=(engine="$HPCJ_ENGINE")
fi

# Starts ipykernel in the background with $kernel_file, on the same five sockets every time
# (hpc_jupyter.ipc_kernel: ipykernel with no TCP port of its own left, see there).
start_kernel() {
  (cd -- "$work_dir" && exec "$HPCJ_PYTHON" -m hpc_jupyter.ipc_kernel -f "$kernel_file" \
    "${kernel_args[@]}") &
  kernel_pid=$!
  kernel_started=$SECONDS
}

# True once the kernel's five sockets accept connections; false when it ended first.
wait_kernel() {
  hpcj_run hpcj_python -m hpc_jupyter.relay wait --timeout 60 --pid "$kernel_pid" "${sockets[@]}"
}

publish_kernel() {
  hpcj_write_connection "$(hpcj_json kind=kernel ip="$address" transport=tcp \
    signature_scheme=hmac-sha256 shell_port:="$shell_port" iopub_port:="$iopub_port" \
    stdin_port:="$stdin_port" control_port:="$control_port" hb_port:="$hb_port" \
    tls:="$tls_field" pid:="$kernel_pid" relay_pid:="$relay_pid" restarts:="$restarts" \
    node="$node" "${engine_field[@]}")"
}

hpcj_log "starting the kernel on $node (unix sockets in $ipc_dir)"
restarts=0
start_kernel

# The relay makes the job's certificate (for the node's address and name) if there is none,
# binds its five ports itself and writes their numbers to $ports_file; it lives as long as the
# job, across kernel restarts.
ports_file=$PWD/.relay-ports
rm -f -- "$ports_file"
"$HPCJ_PYTHON" -m hpc_jupyter.relay serve --tls-dir "$tls_dir" --host "$address" \
  --name "$node" --ports-file "$ports_file" "${routes[@]}" &
relay_pid=$!
wait_kernel || hpcj_die "the kernel did not start; see the messages above"
hpcj_run hpcj_python -c 'import json, os, sys, time
path, pid, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
deadline = time.monotonic() + 60
while not os.path.exists(path):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("hpc-jupyter: the relay ended before it listened")
    if time.monotonic() >= deadline:
        sys.exit("hpc-jupyter: the relay did not listen within 60 s")
    time.sleep(0.05)
with open(path) as f:
    ports = json.load(f)
print(" ".join(str(ports[n]) for n in names))' "$ports_file" "$relay_pid" "${channels[@]}" \
  >"$ports_file.txt" || hpcj_die "the kernel's relay did not start; see the messages above"
read -r shell_port iopub_port stdin_port control_port hb_port <"$ports_file.txt"
rm -f -- "$ports_file" "$ports_file.txt"
# What a client needs to reach the relay: TLS, these files of the session directory (the agent
# reads them; they never leave it otherwise) and the name the certificate is checked against.
tls_field=$(hpcj_json ca=kernel-tls/ca.pem cert=kernel-tls/cert.pem key=kernel-tls/key.pem \
  server_name="$node") || hpcj_die "cannot describe the relay's TLS"

publish_kernel || hpcj_die "cannot write connection.json"

# Without its relay the kernel cannot be reached: the job ends with it.
(
  while [ -n "$(hpcj__alive "$relay_pid")" ]; do sleep 2; done
  hpcj_log "error: the kernel's relay ended; ending the job"
  kill -TERM $$
) &

# The kernel exits when a notebook restarts it (shutdown_request with restart), on `exit()` and
# when it crashes; a shutdown cancels the whole job instead. Each time it is started again here,
# on the same five sockets behind the same relay ports, so connection.json, the agent's tunnels
# and the clients' connections stay valid and the job keeps its place. A kernel that keeps dying
# at once ends the job.
quick_exits=0
while :; do
  wait "$kernel_pid"
  status=$?
  if [ $((SECONDS - kernel_started)) -lt 10 ]; then
    quick_exits=$((quick_exits + 1))
  else
    quick_exits=0
  fi
  [ "$quick_exits" -lt 3 ] ||
    hpcj_die "the kernel exited 3 times within 10 s of starting (last status $status)"
  restarts=$((restarts + 1))
  hpcj_log "the kernel exited with status $status; starting it again (restart $restarts)"
  start_kernel
  if wait_kernel; then
    publish_kernel || hpcj_log "cannot update connection.json"
  fi
done
