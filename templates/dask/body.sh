# shellcheck shell=bash
# A Dask cluster: the scheduler on the first node, workers on every node through the runtime's
# parallel launcher, all over TLS with a certificate made here for this job (0600 files in
# ./dask-tls; every peer must present it). The job is ready when every requested worker has
# registered; connection.json then says where the scheduler and its dashboard are, and how many
# workers joined. Workers retire shortly before the walltime (--lifetime, staggered) so that work
# drains instead of being killed. The dashboard answers only requests signed with the job's web UI
# key (./webui.key, 0600; the agent's proxy signs them), which connection.json's "ui_auth" names
# as needed, never the key itself; the workers' own HTTP servers refuse everything.

session=$PWD
tls=$session/dask-tls
logs=$session/logs
{ [ -d "$logs" ] || mkdir -m 700 "$logs"; } || hpcj_die "cannot create $logs"
address=$(hpcj_node_address)
# The certificate names the scheduler's node (address and host name), so that a client outside
# the job, reaching it through a forwarded port, can check the name as well as the CA.
hpcj_python -m hpc_jupyter.tls "$tls" "$address" "$(hpcj_node_name)" ||
  hpcj_die "cannot make the job's TLS certificate: is hpc-jupyter's Python package (templates/python) installed for $HPCJ_PYTHON?"
tls_args=(--tls-ca-file "$tls/ca.pem" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem")

port=$(hpcj_free_port) || hpcj_die "cannot find a free port"
dashboard_port=$(hpcj_free_port) || hpcj_die "cannot find a free port"
rm -f -- "$session/dask-scheduler.json"
hpcj_python -m hpc_jupyter.webui key "$session" || hpcj_die "cannot make the job's web UI key"

hpcj_log "starting the Dask scheduler on $address:$port"
"$HPCJ_PYTHON" -m hpc_jupyter.dask_engine scheduler --webui-key "$session/webui.key" --protocol tls --host "$address" --port "$port" \
  --dashboard-address "$address:$dashboard_port" --scheduler-file "$session/dask-scheduler.json" \
  "${tls_args[@]}" >>"$logs/dask-scheduler.log" 2>&1 &
scheduler_pid=$!
if ! hpcj_wait_port "$address" "$port" 120 "$scheduler_pid"; then
  tail -n 30 "$logs/dask-scheduler.log" >&2
  hpcj_die "the Dask scheduler did not start"
fi

# Each node's CPUs and memory, divided among its workers.
nodes=()
mapfile -t nodes < <(hpcj_nodes)
per_node=${HPCJ_PARAM_WORKERS_PER_NODE:-1}
cpus=${SLURM_CPUS_PER_TASK:-$(nproc)}
threads=${HPCJ_PARAM_THREADS_PER_WORKER:-0}
if [ "$threads" -eq 0 ]; then
  threads=$((cpus / per_node))
  [ "$threads" -ge 1 ] || threads=1
fi
worker_args=(--nworkers "$per_node" --nthreads "$threads" --no-dashboard
  --local-directory "${TMPDIR:-/tmp}")
if [ "${SLURM_MEM_PER_NODE:-0}" -gt 0 ]; then
  worker_args+=(--memory-limit "$((SLURM_MEM_PER_NODE / per_node))MiB")
fi
lifetime=$(hpcj_python -m hpc_jupyter.walltime 0.05 120 2>/dev/null) || lifetime=''
if [ -n "$lifetime" ]; then
  stagger=$((lifetime / 20))
  [ "$stagger" -le 60 ] || stagger=60
  worker_args+=(--lifetime "${lifetime}s" --lifetime-stagger "${stagger}s")
fi
expected=$((${#nodes[@]} * per_node))

# One log per node in ./logs, so a stall can show the tail of each node that did not join.
# shellcheck disable=SC2016 # expanded by each copy's shell
hpcj_each_node bash -c 'log=$1/dask-worker-$HPCJ_NODE_NAME.log; shift; exec "$@" >>"$log" 2>&1' \
  hpcj-dask "$logs" "$HPCJ_PYTHON" -m hpc_jupyter.dask_engine worker "tls://$address:$port" \
  "${worker_args[@]}" "${tls_args[@]}" &

hpcj_log "waiting for $expected Dask workers ($per_node per node x $threads threads) to register"
count_file=$session/.dask-workers
hpcj_run hpcj_python -m hpc_jupyter.dask_engine wait "$session" "$expected" \
  "${HPCJ_PARAM_START_TIMEOUT_SECONDS:-300}" "${nodes[@]}" >"$count_file" ||
  hpcj_die "the Dask cluster did not start; see the messages above"
read -r count <"$count_file"
rm -f -- "$count_file"
# The port the dashboard really listens on (Dask takes another if the first was taken meanwhile).
dashboard_port=$(hpcj_python -m hpc_jupyter.dask_engine dashboard-port "$session") ||
  hpcj_die "the Dask scheduler has no dashboard (see $logs/dask-scheduler.log)"

hpcj_write_connection "$(hpcj_json kind=dask node="$(hpcj_node_name)" host="$address" \
  scheduler="tls://$address:$port" tls_server_name="$address" workers:="$count" expected_workers:="$expected" \
  threads_per_worker:="$threads" \
  endpoints:="[$(hpcj_json name=scheduler host="$address" port:="$port"),$(hpcj_json \
    name=dashboard host="$address" port:="$dashboard_port" base_path=/status)]" \
  ui_auth:="$(hpcj_json scheme=jws-hs256 endpoints:='["dashboard"]')")" ||
  hpcj_die "cannot write connection.json"

# Workers that join later (extra worker jobs: the dask-workers template) or leave show in the
# session: connection.json's "workers" follows the scheduler's count.
hpcj_python -m hpc_jupyter.dask_engine watch "$session" 2>>"$logs/dask-watch.log" &

wait "$scheduler_pid"
hpcj_die "the Dask scheduler exited (status $?); see $logs/dask-scheduler.log"
