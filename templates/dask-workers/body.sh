# shellcheck shell=bash
# Extra Dask workers for a running `dask` session (HPCJ_PARAM_CLUSTER, a sibling session
# directory of the same user): they join its scheduler with its certificate, named after this
# session so that this job counts and waits for its own. Ready when all of them registered;
# stopping this session takes them away again (the scheduler sees them leave).

session=$PWD
logs=$session/logs
parent=$(dirname -- "$session")/${HPCJ_PARAM_CLUSTER:?no Dask session given}
{ [ -d "$logs" ] || mkdir -m 700 "$logs"; } || hpcj_die "cannot create $logs"
if [ ! -s "$parent/dask-scheduler.json" ] || [ ! -s "$parent/dask-tls/key.pem" ]; then
  hpcj_die "session $HPCJ_PARAM_CLUSTER is not a running Dask cluster of yours ($parent)"
fi
tls=$parent/dask-tls
tls_args=(--tls-ca-file "$tls/ca.pem" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem")
scheduler=$(hpcj_python -m hpc_jupyter.dask_engine address "$parent") ||
  hpcj_die "cannot read the scheduler address of session $HPCJ_PARAM_CLUSTER"

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

# shellcheck disable=SC2016 # expanded by each copy's shell
hpcj_each_node bash -c 'log=$1/dask-worker-$HPCJ_NODE_NAME.log; name=$2-$HPCJ_NODE_NAME; shift 2
exec "$@" --name "$name" >>"$log" 2>&1' \
  hpcj-dask "$logs" "$HPCJ_SESSION_ID" "$HPCJ_PYTHON" -m hpc_jupyter.dask_engine worker "$scheduler" \
  "${worker_args[@]}" "${tls_args[@]}" &

hpcj_log "waiting for $expected extra Dask workers to join $scheduler"
count_file=$session/.dask-workers
hpcj_run hpcj_python -m hpc_jupyter.dask_engine wait "$session" "$expected" \
  "${HPCJ_PARAM_START_TIMEOUT_SECONDS:-300}" --prefix "$HPCJ_SESSION_ID-" --parent "$parent" \
  "${nodes[@]}" >"$count_file" || hpcj_die "the extra Dask workers did not join; see the messages above"
read -r count <"$count_file"
rm -f -- "$count_file"

host=${scheduler#tls://}
port=${host##*:}
host=${host%:*}
hpcj_write_connection "$(hpcj_json kind=dask-workers node="$(hpcj_node_name)" \
  cluster="$HPCJ_PARAM_CLUSTER" scheduler="$scheduler" workers:="$count" \
  expected_workers:="$expected" \
  endpoints:="[$(hpcj_json name=scheduler host="$host" port:="$port")]")" ||
  hpcj_die "cannot write connection.json"

wait
