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
# Server info (with the token) and kernel connection files (with their keys) stay in the private
# session directory instead of the shared runtime directory in $HOME.
export JUPYTER_RUNTIME_DIR=$PWD/runtime
[ -d "$JUPYTER_RUNTIME_DIR" ] || mkdir -m 700 "$JUPYTER_RUNTIME_DIR" ||
  hpcj_die "cannot create $JUPYTER_RUNTIME_DIR"

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
