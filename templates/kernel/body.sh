# shellcheck shell=bash
# An IPython kernel (ipykernel) on the first node of the allocation. hpc-jupyter writes the
# kernel's HMAC key to ./kernel-key (0600) before submission; the kernel's own connection file
# (./runtime/kernel.json, 0600) is the only other place it is written. connection.json says where
# the five ports are, without the key.

key_file=$PWD/kernel-key
hpcj_require_secret_file "$key_file" "the kernel's HMAC key" || exit 1
# Files Jupyter writes at run time (with keys in them) stay in the private session directory.
export JUPYTER_RUNTIME_DIR=$PWD/runtime
[ -d "$JUPYTER_RUNTIME_DIR" ] || mkdir -m 700 "$JUPYTER_RUNTIME_DIR" ||
  hpcj_die "cannot create $JUPYTER_RUNTIME_DIR"
kernel_file=$JUPYTER_RUNTIME_DIR/kernel.json
work_dir=$(hpcj_resolve_dir "${HPCJ_PARAM_WORKING_DIRECTORY:-}") || exit 1
address=$(hpcj_node_address)

# Ports 0: ipykernel binds five free ports itself and writes the numbers back into the file, so
# no port can be taken between choosing and binding it.
hpcj_python -c 'import json, os, sys
key_file, kernel_file, ip = sys.argv[1:4]
with open(key_file) as f:
    key = f.read().strip()
info = {"ip": ip, "transport": "tcp", "signature_scheme": "hmac-sha256", "key": key,
        "shell_port": 0, "iopub_port": 0, "stdin_port": 0, "control_port": 0, "hb_port": 0}
tmp = kernel_file + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(info, f)
os.replace(tmp, kernel_file)' "$key_file" "$kernel_file" "$address" ||
  hpcj_die "cannot write $kernel_file"

# In a job that also runs an engine (HPCJ_ENGINE, e.g. spark-kernel), the kernel runs the
# engine's start-up code as it starts: `spark` and `sc`, `client` or `rc` in the notebook
# (templates/python/hpc_jupyter/startup.py). It runs again after every restart.
kernel_args=()
engine_field=()
if [ -n "${HPCJ_ENGINE:-}" ]; then
  kernel_args+=('--IPKernelApp.exec_lines=from hpc_jupyter.startup import *')
  engine_field+=(engine="$HPCJ_ENGINE")
fi

# Starts ipykernel in the background with $kernel_file: the first time with ports 0, after a
# restart with the ports it wrote back then.
start_kernel() {
  (cd -- "$work_dir" && exec "$HPCJ_PYTHON" -m ipykernel_launcher -f "$kernel_file" \
    "${kernel_args[@]}") &
  kernel_pid=$!
  kernel_started=$SECONDS
}

publish_kernel() {
  hpcj_write_connection "$(hpcj_json kind=kernel ip="$address" transport=tcp \
    signature_scheme=hmac-sha256 shell_port:="$shell_port" iopub_port:="$iopub_port" \
    stdin_port:="$stdin_port" control_port:="$control_port" hb_port:="$hb_port" \
    pid:="$kernel_pid" restarts:="$restarts" node="$(hpcj_node_name)" "${engine_field[@]}")"
}

hpcj_log "starting the kernel on $address"
restarts=0
start_kernel

# Wait until ipykernel has written its ports back (it rewrites the file in place, so a read can
# see half of it), then until every port accepts connections.
ports_file=$PWD/.kernel-ports
hpcj_run hpcj_python -c 'import json, os, sys, time
kernel_file, limit, pid, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
deadline = time.monotonic() + limit
while True:
    try:
        with open(kernel_file) as f:
            info = json.load(f)
        ports = [int(info[name]) for name in names]
        if all(ports):
            break
    except (OSError, ValueError, KeyError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("hpc-jupyter: the kernel ended before it wrote its ports")
    if time.monotonic() >= deadline:
        sys.exit("hpc-jupyter: the kernel did not write its ports within %g s" % limit)
    time.sleep(0.1)
with open(out, "w") as f:
    f.write(" ".join(map(str, ports)) + "\n")' \
  "$kernel_file" "${HPCJ_START_TIMEOUT:-600}" "$kernel_pid" "$ports_file" ||
  hpcj_die "the kernel did not start; see the messages above"
read -r shell_port iopub_port stdin_port control_port hb_port <"$ports_file"
rm -f -- "$ports_file"
for port in "$shell_port" "$iopub_port" "$stdin_port" "$control_port" "$hb_port"; do
  hpcj_wait_port "$address" "$port" 60 "$kernel_pid" || hpcj_die "the kernel is not listening"
done

publish_kernel || hpcj_die "cannot write connection.json"

# The kernel exits when a notebook restarts it (shutdown_request with restart), on `exit()` and
# when it crashes; a shutdown cancels the whole job instead. Each time it is started again here,
# on the same five ports, so connection.json, the agent's tunnels and the clients' connections
# stay valid and the job keeps its place. A kernel that keeps dying at once ends the job.
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
  ok=1
  for port in "$shell_port" "$iopub_port" "$stdin_port" "$control_port" "$hb_port"; do
    hpcj_wait_port "$address" "$port" 60 "$kernel_pid" || {
      ok=''
      break
    }
  done
  if [ -n "$ok" ]; then
    publish_kernel || hpcj_log "cannot update connection.json"
  fi
done
