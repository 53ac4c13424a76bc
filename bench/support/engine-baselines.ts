/**
 * What the engine benchmarks run on the cluster, apart from hpc-jupyter itself: for each engine
 * the sbatch script a careful user writes by hand to start the same engine on the same four
 * nodes and wait for every worker to register (then it touches DIR/ready), and the seed's
 * Monte Carlo pi (Fig. 10) through the client a kernel in an hpc-jupyter job gets, or as one
 * thread of plain Python on this machine. Pure: text in, text out.
 *
 * The hand-written scripts are what a user who knows the engine would write: a free port from
 * Python, the engine's own command-line programs, `srun --overlap` for the workers, and the
 * engine's own client (or the Spark master's JSON status) polled to see them all registered.
 * They leave out what hpc-jupyter adds for safety (TLS, secrets, per-node logs, walltime
 * retirement): hpc-jupyter has to match them with that work included.
 */

export type Engine = 'spark' | 'dask' | 'ipyparallel';

export const ENGINES: readonly Engine[] = ['spark', 'dask', 'ipyparallel'];

export interface BaselineOptions {
  /** A private directory on the shared filesystem: the script's working directory and log. */
  readonly dir: string;
  /** The job's Python, with the engines installed (the cluster's `python`). */
  readonly python: string;
  readonly nodes: number;
  readonly cpusPerNode: number;
  /** How long the script waits for its workers before it gives up. */
  readonly timeoutS: number;
}

/** The #SBATCH header every baseline shares: the same shape of job hpc-jupyter submits. */
function header(engine: Engine, o: BaselineOptions): string {
  return `#!/bin/bash
#SBATCH --job-name=bench-baseline-${engine} --nodes=${o.nodes} --ntasks-per-node=1
#SBATCH --cpus-per-task=${o.cpusPerNode} --time=10 --chdir=${o.dir} --output=${o.dir}/job.log
PY=${o.python}
addr=$(hostname -I | awk '{print $1}')
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
`;
}

/** The workers' step: one task per node, sharing the allocation with the server. */
function srun(o: BaselineOptions): string {
  return `srun --overlap --nodes=${o.nodes} --ntasks=${o.nodes} --cpus-per-task=${o.cpusPerNode}`;
}

export function baselineScript(engine: Engine, o: BaselineOptions): string {
  switch (engine) {
    case 'dask':
      return `${header(engine, o)}
$PY -m distributed.cli.dask_scheduler --host "$addr" --port "$(free_port)" \\
  --scheduler-file scheduler.json >scheduler.log 2>&1 &
while [ ! -s scheduler.json ]; do sleep 0.1; done
${srun(o)} $PY -m distributed.cli.dask_worker --scheduler-file scheduler.json \\
  --nthreads ${o.cpusPerNode} --no-dashboard >workers.log 2>&1 &
$PY -c "from distributed import Client
c = Client(scheduler_file='scheduler.json', timeout=${o.timeoutS})
c.wait_for_workers(${o.nodes}, timeout=${o.timeoutS})
open('ready', 'w').write('ok')"
wait
`;
    case 'ipyparallel':
      return `${header(engine, o)}
$PY -m ipyparallel.controller --ip="$addr" --location="$addr" --profile-dir="$PWD/ipp" \\
  >controller.log 2>&1 &
while [ ! -s ipp/security/ipcontroller-engine.json ]; do sleep 0.1; done
${srun(o)} $PY -m ipyparallel.engine --profile-dir="$PWD/ipp" \\
  --file="$PWD/ipp/security/ipcontroller-engine.json" >engines.log 2>&1 &
$PY -c "import ipyparallel
rc = ipyparallel.Client('ipp/security/ipcontroller-client.json', timeout=${o.timeoutS})
rc.wait_for_engines(${o.nodes}, timeout=${o.timeoutS})
open('ready', 'w').write('ok')"
wait
`;
    case 'spark':
      return `${header(engine, o)}
export SPARK_HOME=$($PY -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
port=$(free_port) ui=$(free_port)
SPARK_LOCAL_IP=$addr "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \\
  --host "$addr" --port "$port" --webui-port "$ui" >master.log 2>&1 &
until (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; do sleep 0.1; done
${srun(o)} bash -c 'a=$(hostname -I | awk "{print \\$1}")
  SPARK_LOCAL_IP=$a "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \\
  --host "$a" --cores ${o.cpusPerNode} --memory 512m --webui-port 0 \\
  --work-dir "$PWD/work-$(hostname)" "$1"' spark "spark://$addr:$port" >workers.log 2>&1 &
$PY -c "import json, time, urllib.request
deadline = time.time() + ${o.timeoutS}
while time.time() < deadline:
    try:
        with urllib.request.urlopen('http://$addr:$ui/json/', timeout=5) as r:
            alive = [w for w in json.load(r)['workers'] if w['state'] == 'ALIVE']
        if len(alive) >= ${o.nodes}:
            open('ready', 'w').write('ok')
            break
    except OSError:
        pass
    time.sleep(0.2)"
wait
`;
  }
}

/**
 * The seed's Fig. 10 as a kernel in the job runs it (after `from hpc_jupyter.startup import *`),
 * timing only the count, as `%time total_count = count(NUM_SAMPLES)` does. Prints one JSON line:
 * pi, wall (s) and the hosts the work ran on.
 */
export function clusterPiScript(engine: Engine, samples: number): string {
  const common = `from hpc_jupyter.startup import *
import json, random, socket, time

def inside(p):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

NUM_SAMPLES = ${samples}
`;
  switch (engine) {
    case 'spark':
      return `${common}
def count(n):
    return sc.parallelize(range(0, n)).filter(inside).count()

t0 = time.time()
total_count = count(NUM_SAMPLES)
wall = time.time() - t0
hosts = sorted(set(sc.parallelize(range(64), 64).map(lambda _: socket.gethostname()).collect()))
print(json.dumps({"pi": 4.0 * total_count / NUM_SAMPLES, "wall": wall, "hosts": hosts,
                  "parallelism": sc.defaultParallelism}))
spark.stop()
`;
    case 'dask':
      return `${common}
import dask.bag as db

def count(n):
    return db.range(n, npartitions=64).filter(inside).count().compute()

t0 = time.time()
total_count = count(NUM_SAMPLES)
wall = time.time() - t0
hosts = sorted(set(db.range(64, npartitions=64).map(lambda _: socket.gethostname()).compute()))
print(json.dumps({"pi": 4.0 * total_count / NUM_SAMPLES, "wall": wall, "hosts": hosts}))
`;
    case 'ipyparallel':
      return `${common}
def part(n):
    import random
    def inside(p):
        x, y = random.random(), random.random()
        return x*x + y*y < 1
    return sum(1 for i in range(n) if inside(i))

def count(n):
    parts = len(rc.ids) * 4
    return sum(rc[:].map_sync(part, [n // parts] * parts)), n // parts * parts

t0 = time.time()
total_count, done = count(NUM_SAMPLES)
wall = time.time() - t0
hosts = sorted(set(rc[:].apply_sync(socket.gethostname)))
print(json.dumps({"pi": 4.0 * total_count / done, "wall": wall, "hosts": hosts}))
`;
  }
}

/** The same count as one thread of plain Python, the seed's single-threaded case. */
export function singleThreadPiScript(samples: number): string {
  return `import json, random, time

def inside(p):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

NUM_SAMPLES = ${samples}
t0 = time.time()
total_count = sum(1 for i in range(NUM_SAMPLES) if inside(i))
print(json.dumps({"pi": 4.0 * total_count / NUM_SAMPLES, "wall": time.time() - t0}))
`;
}

/**
 * What one record of the seed's pi costs in PySpark's Python worker against plain Python, in one
 * thread: `rdd.filter(f)` calls f through PySpark's own `fail_on_stopiteration` wrapper (taken
 * from the installed pyspark, so the figure follows its version), then counts. Both run ROUNDS
 * times, alternating; the best of each counts. Prints one JSON line: plain and pyspark seconds.
 */
export function sparkRecordCostScript(samples: number, rounds = 3): string {
  return `import json, random, time
from pyspark.util import fail_on_stopiteration

def inside(p):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

def plain(n):
    return sum(1 for i in range(n) if inside(i))

def pyspark_worker(n):
    return sum(1 for _ in filter(fail_on_stopiteration(inside), iter(range(n))))

best = {"plain": float("inf"), "pyspark": float("inf")}
for _ in range(${rounds}):
    for name, count in (("plain", plain), ("pyspark", pyspark_worker)):
        t0 = time.perf_counter()
        count(${samples})
        best[name] = min(best[name], time.perf_counter() - t0)
print(json.dumps(best))
`;
}
