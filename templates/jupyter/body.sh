# shellcheck shell=bash
# JupyterLab on the first node of the allocation, served under /sessions/<session id>/ so the
# agent's proxy passes it through unchanged. The token is in ./token, written 0600 by hpc-jupyter
# before submission, and reaches jupyter-server as JUPYTER_TOKEN_FILE: it is never on a command
# line, in an environment variable or in this job's log, and not in connection.json either.

token_file=$PWD/token
hpcj_require_secret_file "$token_file" "the Jupyter token" || exit 1
# jupyter-server reads the file as it is: a line break would become part of the token.
if [ "$(wc -l <"$token_file")" -ne 0 ]; then
  hpcj_die "$token_file ends with a line break; it must hold the token alone"
fi
# JUPYTER_TOKEN is checked before the file: one inherited from the submitting shell must not win.
unset JUPYTER_TOKEN
export JUPYTER_TOKEN_FILE=$token_file
# The server's kernels listen on no TCP port: a kernel on 127.0.0.1 of the node would answer any
# user of that node, and its iopub channel hands every output to whoever subscribes. They use
# unix sockets (transport ipc), which jupyter_client puts beside their connection files in the
# runtime directory, so that directory is private (0700) and short (a socket's path must fit in
# 107 bytes: $TMPDIR on the node's own disk if its path is short, else /tmp), and removed when
# the job ends. Server info (with the token) and connection files (with keys) are kept there too.
runtime_base=${TMPDIR:-/tmp}
if [ "${#runtime_base}" -gt 64 ] || [ ! -d "$runtime_base" ] || [ ! -w "$runtime_base" ]; then
  runtime_base=/tmp
fi
JUPYTER_RUNTIME_DIR=$(mktemp -d "$runtime_base/hpcj-XXXXXX") ||
  hpcj_die "cannot create a private runtime directory in $runtime_base"
export JUPYTER_RUNTIME_DIR
hpcj_on_exit rm -rf -- "$JUPYTER_RUNTIME_DIR"
# The "python3" kernel is hpc_jupyter.ipc_kernel: ipykernel without the two TCP ports it would
# still open (the IOPub pipe for forked subprocesses, on ipc instead; no debugpy listener).
kernels_path=$PWD/jupyter-path
mkdir -p -m 700 "$kernels_path/kernels/python3" || hpcj_die "cannot create $kernels_path"
hpcj_python -c 'import json, sys
try:
    import hpc_jupyter.ipc_kernel  # noqa: F401
except ImportError:
    # Without the package, ipykernel as it is: on ipc all the same, with its own two ports.
    print("hpc-jupyter: hpc_jupyter is not installed in %s: the python3 kernel is plain ipykernel"
          % sys.executable, file=sys.stderr)
    sys.exit(0)
python, out = sys.argv[1:3]
spec = {"argv": [python, "-m", "hpc_jupyter.ipc_kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
        "metadata": {"debugger": False}}
with open(out, "w") as f:
    json.dump(spec, f, indent=1)' "$HPCJ_PYTHON" "$kernels_path/kernels/python3/kernel.json" ||
  hpcj_die "cannot write the python3 kernelspec"
export JUPYTER_PATH=$kernels_path${JUPYTER_PATH:+:$JUPYTER_PATH}

root_dir=$(hpcj_resolve_dir "${HPCJ_PARAM_WORKING_DIRECTORY:-}") || exit 1
address=$(hpcj_node_address)
base_url="/sessions/${HPCJ_SESSION_ID:?job.env must set HPCJ_SESSION_ID}/"

# The job already runs as the user who asked for it; jupyter-server's refusal to run as root (a
# container, a local session) would only stop the session.
extra_args=()
[ "$(id -u)" -ne 0 ] || extra_args+=(--allow-root)

# A free port can be taken by someone else before the server binds it; the server is told not to
# move to another port (we would not know which), so a lost race means one more attempt.
attempt=1
while :; do
  port=$(hpcj_free_port) || hpcj_die "cannot find a free port with $HPCJ_PYTHON"
  hpcj_log "starting JupyterLab on $address:$port"
  "$HPCJ_PYTHON" -m jupyterlab --no-browser \
    --ServerApp.ip="$address" \
    --ServerApp.port="$port" \
    --ServerApp.port_retries=0 \
    --ServerApp.base_url="$base_url" \
    --ServerApp.root_dir="$root_dir" \
    --ServerApp.allow_remote_access=True \
    --KernelManager.transport=ipc \
    "${extra_args[@]}" &
  server_pid=$!
  # Made while the server starts, so that publishing it once the port answers is one write.
  connection=$(hpcj_json kind=jupyter host="$address" port:="$port" baseUrl="$base_url" \
    pid:="$server_pid" node="$(hpcj_node_name)") || hpcj_die "cannot describe the connection"
  if hpcj_wait_port "$address" "$port" "${HPCJ_START_TIMEOUT:-600}" "$server_pid"; then
    break
  fi
  if kill -0 "$server_pid" 2>/dev/null; then
    hpcj_die "JupyterLab did not start listening within ${HPCJ_START_TIMEOUT:-600} s"
  fi
  if hpcj_port_free "$port" || [ "$attempt" -ge 3 ]; then
    hpcj_die "JupyterLab did not start; see its messages above"
  fi
  attempt=$((attempt + 1))
done

hpcj_write_connection "$connection" || hpcj_die "cannot write connection.json"

wait "$server_pid"
