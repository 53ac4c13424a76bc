# shellcheck shell=bash
# Extra ipyparallel engines for a running `ipyparallel` session (HPCJ_PARAM_CLUSTER, a sibling
# session directory of the same user): one per task, registering with its controller through the
# controller's own engine file (0600, with the HMAC key and the CURVE server key; only its path is
# in argv); a controller without CurveZMQ is refused, as its engines would talk in the clear.
# Each engine's identity is SESSION-NODE-RANK, so this job counts and waits for its own engines
# even while other extra jobs join or leave. Ready when all of them registered; stopping this session takes them
# away again at once: each engine asks the controller to unregister it on SIGTERM
# (hpc_jupyter.ipp_extra_engine; were that lost, 30 missed heartbeats would drop it).

session=$PWD
logs=$session/logs
profile=$session/ipengine
parent=$(dirname -- "$session")/${HPCJ_PARAM_CLUSTER:?no ipyparallel session given}
for dir in "$logs" "$profile"; do
  { [ -d "$dir" ] || mkdir -m 700 "$dir"; } || hpcj_die "cannot create $dir"
done
engine_file=$parent/ipyparallel/security/ipcontroller-engine.json
if ! controller=$(hpcj_python -m hpc_jupyter.ipp_engine controller "$parent") ||
  [ ! -r "$engine_file" ]; then
  hpcj_die "session $HPCJ_PARAM_CLUSTER is not a running ipyparallel cluster of yours ($parent)"
fi

nodes=()
mapfile -t nodes < <(hpcj_nodes)
per_node=${HPCJ_TASKS_PER_NODE:-1}
expected=$((${#nodes[@]} * per_node))

# One log per engine in ./logs, so a stall can show the tail of each node that is short. The
# engines' profile (pid and startup files) is this session's own, not the cluster's.
# shellcheck disable=SC2016 # expanded by each copy's shell
hpcj_each_task bash -c 'log=$1/ipengine-$HPCJ_NODE_NAME-$HPCJ_RANK.log
name=$2-$HPCJ_NODE_NAME-$HPCJ_RANK; shift 2; exec "$@" --Session.session="$name" >>"$log" 2>&1' \
  hpcj-ipp "$logs" "$HPCJ_SESSION_ID" "$HPCJ_PYTHON" -m hpc_jupyter.ipp_extra_engine \
  --profile-dir="$profile" --file="$engine_file" &

hpcj_log "waiting for $expected extra ipyparallel engines ($per_node per node) to register" \
  "with the controller of $HPCJ_PARAM_CLUSTER"
count_file=$session/.ipp-engines
hpcj_run hpcj_python -m hpc_jupyter.ipp_engine wait "$session" "$expected" \
  "${HPCJ_PARAM_START_TIMEOUT_SECONDS:-300}" --prefix "$HPCJ_SESSION_ID-" --parent "$parent" \
  "${nodes[@]}" >"$count_file" ||
  hpcj_die "the extra ipyparallel engines did not register; see the messages above"
read -r count <"$count_file"
rm -f -- "$count_file"

hpcj_write_connection "$(hpcj_json kind=ipyparallel-engines node="$(hpcj_node_name)" \
  cluster="$HPCJ_PARAM_CLUSTER" engines:="$count" expected_engines:="$expected" \
  workers:="$count" expected_workers:="$expected" endpoints:="$controller")" ||
  hpcj_die "cannot write connection.json"

wait
hpcj_log "the extra engines ended (did the controller of $HPCJ_PARAM_CLUSTER stop?)"
