# shellcheck shell=bash
# A Spark standalone cluster: the master on the first node, W workers on every node (or every
# node but the first) through the runtime's parallel launcher, each with its share of the node's
# cores and memory and its work and local directories on node-local temporary space. One secret
# per job, made here, lives only in ./spark/spark.conf (0600), which master, workers and drivers
# read with --properties-file: authentication, AES/GCM network encryption, no REST submission,
# no kill links in the UIs. The master, worker and application UIs answer only requests signed
# with the job's web UI key (Spark's JWSFilter, keyed in the same file; ./webui.key for the
# agent's proxy, which signs them), which connection.json's "ui_auth" names as needed. The job is
# ready when every worker has registered with the master (and, with connectServer, once the Spark
# Connect server, listening on the first node's address only, ran a task on every core for a
# client that showed its token).

session=$PWD
logs=$session/logs
{ [ -d "$logs" ] || mkdir -m 700 "$logs"; } || hpcj_die "cannot create $logs"
SPARK_HOME=$(hpcj_python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))') ||
  hpcj_die "pyspark is not installed for $HPCJ_PYTHON"
export SPARK_HOME SPARK_CONF_DIR=$session/spark SPARK_DAEMON_MEMORY=${SPARK_DAEMON_MEMORY:-256m}
# The master and worker daemons only pass messages: the quick C1 compiler alone starts them about
# twice as fast as tiered compilation (which spends the first seconds in C2). Executors, which do
# the work, keep the JVM's defaults: their options come from the application, not from here.
export SPARK_DAEMON_JAVA_OPTS="-XX:TieredStopAtLevel=1${SPARK_DAEMON_JAVA_OPTS:+ $SPARK_DAEMON_JAVA_OPTS}"
command -v java >/dev/null || [ -n "${JAVA_HOME:-}" ] ||
  hpcj_die "Spark needs Java 17 or newer: none found (set JAVA_HOME in the cluster's prologue)"

address=$(hpcj_node_address)
port=$(hpcj_free_port) || hpcj_die "cannot find a free port"
ui_port=$(hpcj_free_port) || hpcj_die "cannot find a free port"
app_ui_port=$(hpcj_free_port) || hpcj_die "cannot find a free port"
master=spark://$address:$port

# Each worker's share of its node.
per_node=${HPCJ_PARAM_WORKERS_PER_NODE:-1}
cpus=${SLURM_CPUS_PER_TASK:-$(nproc)}
cores=$((cpus / per_node))
[ "$cores" -ge 1 ] || cores=1
memory=${HPCJ_PARAM_WORKER_MEMORY_MB:-0}
if [ "$memory" -eq 0 ]; then
  memory=512
  if [ "${SLURM_MEM_PER_NODE:-0}" -gt 1024 ]; then
    memory=$(((SLURM_MEM_PER_NODE - 512) / per_node))
  fi
fi

hpcj_python -m hpc_jupyter.spark_engine conf "$session" "$master" "$app_ui_port" "${memory}m" ||
  hpcj_die "cannot write the Spark properties file"
conf=$session/spark/spark.conf

hpcj_log "starting the Spark master on $address:$port"
SPARK_LOCAL_IP=$address "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host "$address" --port "$port" --webui-port "$ui_port" --properties-file "$conf" \
  >>"$logs/spark-master.log" 2>&1 &
master_pid=$!
if ! hpcj_wait_port "$address" "$port" 120 "$master_pid"; then
  tail -n 30 "$logs/spark-master.log" >&2
  hpcj_die "the Spark master did not start"
fi

nodes=()
mapfile -t nodes < <(hpcj_nodes)
skip_first=0
worker_nodes=("${nodes[@]}")
if [ "${HPCJ_PARAM_NO_WORKER_ON_DRIVER_NODE:-false}" = true ]; then
  skip_first=1
  worker_nodes=("${nodes[@]:1}")
fi
expected=$((${#worker_nodes[@]} * per_node))
[ "$expected" -ge 1 ] || hpcj_die "no node is left for Spark workers: ask for 2 nodes or more"

# What each node runs: its workers, each with private scratch on node-local temporary space,
# removed when the node's copy ends.
# shellcheck disable=SC2016 # expanded by each copy's shell
node_script='logs=$1 master=$2 per_node=$3 cores=$4 memory=$5 conf=$6 skip_first=$7
[ "$skip_first" = 1 ] && [ "$HPCJ_NODE_RANK" = 0 ] && exit 0
if [ -n "${HPCJ_NODE_ADDRESS:-}" ]; then address=$HPCJ_NODE_ADDRESS
elif [ "${HPC_JUPYTER_SCHEDULER:-}" = local ]; then address=127.0.0.1
else read -r address _ < <(hostname -I); fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/hpcj-spark-XXXXXX") || exit 1
pids=""
trap '\''rm -rf "$scratch"'\'' EXIT
trap '\''kill $pids 2>/dev/null; wait; exit 143'\'' TERM INT HUP
log=$logs/spark-worker-$HPCJ_NODE_NAME.log
i=0
while [ "$i" -lt "$per_node" ]; do
  mkdir -m 700 "$scratch/w$i" "$scratch/w$i/work" "$scratch/w$i/local" || exit 1
  SPARK_LOCAL_DIRS=$scratch/w$i/local SPARK_LOCAL_IP=$address \
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker --host "$address" \
    --cores "$cores" --memory "${memory}m" --webui-port 0 --work-dir "$scratch/w$i/work" \
    --properties-file "$conf" "$master" >>"$log" 2>&1 &
  pids="$pids $!"
  i=$((i + 1))
done
wait'
hpcj_each_node bash -c "$node_script" hpcj-spark "$logs" "$master" "$per_node" "$cores" \
  "$memory" "$conf" "$skip_first" &
# The workers start while the master brings up its UI, whose status page says who registered.
hpcj_wait_port "$address" "$ui_port" 60 "$master_pid" || hpcj_die "the Spark master UI did not start"

hpcj_log "waiting for $expected Spark workers ($per_node per node x $cores cores, ${memory} MiB) to register"
count_file=$session/.spark-workers
hpcj_run hpcj_python -m hpc_jupyter.spark_engine wait "$session" "$expected" \
  "${HPCJ_PARAM_START_TIMEOUT_SECONDS:-300}" "http://$address:$ui_port" "${worker_nodes[@]}" \
  >"$count_file" || hpcj_die "the Spark cluster did not start; see the messages above"
read -r count <"$count_file"
rm -f -- "$count_file"

# Spark Connect: the cluster's one driver, for clients in the job and outside it (through the
# agent's forward to the "connect" endpoint), each showing the token from spark/connect.token.
connect_endpoint='' connect_server=false
if [ "${HPCJ_PARAM_CONNECT_SERVER:-false}" = true ]; then
  connect_server=true
  connect_port=$(hpcj_free_port) || hpcj_die "cannot find a free port"
  hpcj_python -m hpc_jupyter.spark_engine connect-conf "$session" "$connect_port" "$address" ||
    hpcj_die "cannot write the Spark Connect server's properties file"
  hpcj_log "starting the Spark Connect server on $address:$connect_port"
  # spark-submit sizes the Connect server like a daemon (SPARK_DAEMON_MEMORY), but it is the
  # driver: it gets a driver's default heap (Spark refuses less than 450 MiB) and full JIT. Its
  # clients' Python UDFs run in PYSPARK_PYTHON (not spark.pyspark.python), else in `python3`.
  SPARK_LOCAL_IP=$address SPARK_DAEMON_MEMORY=1g SPARK_DAEMON_JAVA_OPTS='' \
    PYSPARK_PYTHON=$HPCJ_PYTHON "$SPARK_HOME/bin/spark-submit" \
    --class org.apache.spark.sql.connect.service.SparkConnectServer \
    --name "Spark Connect server" --properties-file "$session/spark/connect.conf" \
    >>"$logs/spark-connect.log" 2>&1 &
  hpcj_run hpcj_python -m hpc_jupyter.spark_engine connect-wait "$session" \
    "${HPCJ_PARAM_START_TIMEOUT_SECONDS:-300}" "$!" "$((count * cores))" ||
    hpcj_die "the Spark Connect server did not start; see the messages above"
  connect_endpoint=,$(hpcj_json name=connect host="$address" port:="$connect_port")
fi

connection=$(hpcj_json kind=spark node="$(hpcj_node_name)" host="$address" \
  master="$master" workers:="$count" expected_workers:="$expected" cores_per_worker:="$cores" \
  memory_per_worker_mib:="$memory" connect_server:="$connect_server" \
  endpoints:="[$(hpcj_json name=master host="$address" port:="$port"),$(hpcj_json \
    name=master-ui host="$address" port:="$ui_port"),$(hpcj_json \
    name=app-ui host="$address" port:="$app_ui_port")$connect_endpoint]" \
  ui_auth:="$(hpcj_json scheme=jws-hs256 endpoints:='["master-ui","app-ui"]')") ||
  hpcj_die "cannot describe the Spark cluster"

# Ready: connection.json and wait for the master; or, in a kernel's job (spark-kernel), on to
# the kernel's body, whose start-up code makes `spark` and `sc` on this master.
hpcj_engine_ready "$connection" "$master_pid" "the Spark master exited; see $logs/spark-master.log"
