# shellcheck shell=bash
# An ipyparallel cluster: the controller on the first node, bound to the node's address, and one
# engine per task through the runtime's parallel launcher. The controller writes its connection
# files, with the HMAC key every message is signed with, 0600 into ./ipyparallel/security; nothing
# else holds the key. Every port of the controller speaks CurveZMQ (its config, written below):
# a connection without the controller's CURVE server key, which only those files hold, fails its
# handshake, so nobody else can even subscribe to the engines' output. The job is ready when every engine has registered; connection.json then
# says where the controller is and how many engines joined, and follows engines of extra jobs.

session=$PWD
profile=$session/ipyparallel
logs=$session/logs
for dir in "$logs" "$profile"; do
  { [ -d "$dir" ] || mkdir -m 700 "$dir"; } || hpcj_die "cannot create $dir"
done
rm -f -- "$profile/security/ipcontroller-client.json" "$profile/security/ipcontroller-engine.json"
hpcj_python -m hpc_jupyter.ipp_engine controller-config "$profile" ||
  hpcj_die "cannot write the ipyparallel controller's configuration into $profile"

address=$(hpcj_node_address)
hpcj_log "starting the ipyparallel controller on $address"
# The hub completes an engine's registration on the first heartbeat after the engine answered a
# ping, so the ping period (3 s by default) is what registration takes; 1 s pings make engines
# join three times sooner, and 30 missed pings keep the default 30 s before one is declared dead.
"$HPCJ_PYTHON" -m ipyparallel.controller --ip="$address" --location="$address" \
  --profile-dir="$profile" --HeartMonitor.period=1000 --HeartMonitor.max_heartmonitor_misses=30 \
  >>"$logs/ipcontroller.log" 2>&1 &
controller_pid=$!

engine_file=$profile/security/ipcontroller-engine.json
waited=0
while [ ! -s "$engine_file" ]; do
  if ! kill -0 "$controller_pid" 2>/dev/null || [ "$waited" -ge 1200 ]; then
    tail -n 30 "$logs/ipcontroller.log" >&2
    hpcj_die "the ipyparallel controller did not start"
  fi
  sleep 0.1
  waited=$((waited + 1))
done

nodes=()
mapfile -t nodes < <(hpcj_nodes)
per_node=${HPCJ_TASKS_PER_NODE:-1}
expected=$((${#nodes[@]} * per_node))

if [ "${HPCJ_PARAM_MPI:-false}" = true ]; then
  # One MPI program: mpiexec (MPICH's next to the Python, else the site's) starts the engines on
  # the job's tasks; inside Slurm it launches through srun, which must share the job's CPUs with
  # this step (SLURM_OVERLAP). Engine ids are the MPI ranks; one log, each line with its rank.
  mpiexec=$(dirname -- "$HPCJ_PYTHON")/mpiexec
  [ -x "$mpiexec" ] || mpiexec=$(command -v mpiexec) ||
    hpcj_die "the mpi option needs mpiexec (MPICH or Open MPI) with mpi4py on $HPCJ_PYTHON"
  hpcj_log "starting $expected ipyparallel engines as one MPI program ($mpiexec)"
  SLURM_OVERLAP=1 "$mpiexec" -n "$expected" "$HPCJ_PYTHON" -m ipyparallel.engine --mpi \
    --profile-dir="$profile" --file="$engine_file" >>"$logs/ipengine-mpi.log" 2>&1 &
else
  # One log per engine in ./logs, so a stall can show the tail of each node that is short.
  # shellcheck disable=SC2016 # expanded by each copy's shell
  hpcj_each_task bash -c 'log=$1/ipengine-$HPCJ_NODE_NAME-$HPCJ_RANK.log; shift; exec "$@" >>"$log" 2>&1' \
    hpcj-ipp "$logs" "$HPCJ_PYTHON" -m ipyparallel.engine --profile-dir="$profile" \
    --file="$engine_file" &
fi

hpcj_log "waiting for $expected ipyparallel engines ($per_node per node) to register"
count_file=$session/.ipp-engines
hpcj_run hpcj_python -m hpc_jupyter.ipp_engine wait "$session" "$expected" \
  "${HPCJ_PARAM_START_TIMEOUT_SECONDS:-300}" "${nodes[@]}" >"$count_file" ||
  hpcj_die "the ipyparallel cluster did not start; see the messages above"
read -r count <"$count_file"
rm -f -- "$count_file"
# One endpoint per port a client connects to ("controller" is the registration port), so that
# hpc-jupyter can forward each of them to a client outside the job and to nothing else.
endpoints=$(hpcj_python -m hpc_jupyter.ipp_engine endpoints "$session" "$address") ||
  hpcj_die "cannot read the controller's client ports"

hpcj_write_connection "$(hpcj_json kind=ipyparallel node="$(hpcj_node_name)" host="$address" \
  engines:="$count" expected_engines:="$expected" workers:="$count" \
  client_file="$profile/security/ipcontroller-client.json" endpoints:="$endpoints")" ||
  hpcj_die "cannot write connection.json"

# Engines that join later (extra engine jobs: the ipyparallel-engines template) or leave show in
# the session: connection.json's "engines" and "workers" follow the controller's count.
hpcj_python -m hpc_jupyter.ipp_engine watch "$session" 2>>"$logs/ipp-watch.log" &

wait "$controller_pid"
hpcj_die "the ipyparallel controller exited (status $?); see $logs/ipcontroller.log"
