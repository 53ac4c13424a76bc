"""Spark standalone in a job: the job's private properties file, the start-up wait that makes
"ready" mean "every requested worker registered", and the SparkSession a kernel gets.

Usage (from templates/spark/body.sh):
  python -m hpc_jupyter.spark_engine conf SESSION_DIR MASTER_URL APP_UI_PORT EXECUTOR_MEMORY
  python -m hpc_jupyter.spark_engine wait SESSION_DIR WORKERS TIMEOUT_S MASTER_UI_URL NODE...
  python -m hpc_jupyter.spark_engine connect-conf SESSION_DIR PORT DRIVER_ADDRESS
  python -m hpc_jupyter.spark_engine connect-wait SESSION_DIR TIMEOUT_S SERVER_PID SLOTS

The secret is made here, once per job, and written only into SESSION_DIR/spark/spark.conf
(0600). Daemons and drivers read it with --properties-file, so it never reaches argv: pyspark
would pass a SparkConf's entries to spark-submit as --conf arguments, so the driver gets the file
through PYSPARK_SUBMIT_ARGS instead.

The master, worker and application UIs refuse every request without ``Authorization: Bearer
<JWS>`` signed with the job's web UI key (see :mod:`hpc_jupyter.webui`): Spark's own JWSFilter,
configured in the same properties file, so it reaches the daemons and drivers the way the secret
does. The start-up wait shows a token of its own; the agent's proxy adds one for the browser.

With a Spark Connect server (the template's connectServer), the server is the cluster's driver
and every client, in the job or outside it, is a Connect client that shows a token. The token is
made here too, into SESSION_DIR/spark/connect.token and the server's own properties file
spark/connect.conf (both 0600). The server listens on its node's address only (not on every
interface). pyspark sends a token without TLS only to ``localhost`` (over gRPC's local
credentials, which accept loopback peers alone): outside the job, clients reach the server as
localhost through the agent's loopback forward. A kernel on the server's node connects to the
node's address with the token in each call's metadata (:class:`_TokenChannelBuilder`): traffic
to a node's own address never leaves the node.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

from . import session_dir as _session_dir
from . import webui
from .files import make_private_dir, tail, write_private

CONF_DIR = "spark"
CONF_FILE = os.path.join(CONF_DIR, "spark.conf")
INFO_FILE = os.path.join(CONF_DIR, "master.json")
CONNECT_CONF_FILE = os.path.join(CONF_DIR, "connect.conf")
CONNECT_TOKEN_FILE = os.path.join(CONF_DIR, "connect.token")
CONNECT_INFO_FILE = os.path.join(CONF_DIR, "connect.json")
UI_FILTER = "org.apache.spark.ui.JWSFilter"


def write_conf(session_dir, master_url, app_ui_port, executor_memory):
    directory = make_private_dir(os.path.join(session_dir, CONF_DIR))
    props = {
        "spark.master": master_url,
        "spark.authenticate": "true",
        "spark.authenticate.secret": secrets.token_hex(32),
        "spark.network.crypto.enabled": "true",
        "spark.network.crypto.cipher": "AES/GCM/NoPadding",
        "spark.network.crypto.saslFallback": "false",
        "spark.master.rest.enabled": "false",
        "spark.ui.killEnabled": "false",
        # Every UI (master, workers, each application's) asks for a JWS signed with this key.
        # The Environment tab shows it redacted ("secret" is in spark.redaction.regex).
        "spark.ui.filters": UI_FILTER,
        "spark.%s.param.secretKey" % UI_FILTER: webui.make_key(session_dir),
        "spark.%s.param.requireExpiration" % UI_FILTER: "true",
        "spark.executor.memory": executor_memory,
        "spark.ui.port": str(app_ui_port),
        "spark.port.maxRetries": "32",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    text = "".join("%s %s\n" % item for item in props.items())
    write_private(os.path.join(session_dir, CONF_FILE), text)
    write_private(
        os.path.join(session_dir, INFO_FILE),
        json.dumps({"master": master_url, "app_ui_port": app_ui_port}),
    )
    return directory


def node_address():
    """This node's address as the runtime's hpcj_node_address sees it (first of hostname -I)."""
    explicit = os.environ.get("HPCJ_NODE_ADDRESS")
    if explicit:
        return explicit
    if os.environ.get("HPC_JUPYTER_SCHEDULER") == "local":
        return "127.0.0.1"
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10)
        first = out.stdout.split()
        if first:
            return first[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return socket.gethostname()


def connect(session_dir=None, app_name="hpc-jupyter", executor_timeout=60):
    """A SparkSession on the job's master, authenticated and encrypted with the job's secret,
    returned once every worker runs an executor for it (or after ``executor_timeout`` s)."""
    directory = _session_dir(session_dir)
    conf_file = os.path.join(directory, CONF_FILE)
    if not os.path.exists(conf_file):
        raise FileNotFoundError("no Spark properties file %s: is this a spark job?" % conf_file)
    os.environ["PYSPARK_SUBMIT_ARGS"] = "--properties-file %s pyspark-shell" % conf_file
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.appName(app_name)
        .config("spark.driver.host", node_address())
        .config("spark.driver.bindAddress", node_address())
        .getOrCreate()
    )
    wait_for_executors(spark.sparkContext, _expected_executors(directory), executor_timeout)
    warm_python_workers(spark.sparkContext)
    return spark


def _expected_executors(directory):
    """One executor per registered worker (each gives the application all its cores). The
    workers are in connection.json, or in engine.json in a kernel's job that also runs Spark
    (spark-kernel), whose connection.json is the kernel's."""
    for name in ("engine.json", "connection.json"):
        try:
            with open(os.path.join(directory, name)) as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        try:
            return int(info.get("workers") or 0)
        except (AttributeError, ValueError, TypeError):
            return 0
    return 0


def executor_count(sc):
    """Executors registered with the driver (the driver's own block manager left out)."""
    return max(0, sc._jsc.sc().getExecutorMemoryStatus().size() - 1)


def wait_for_executors(sc, expected, timeout):
    """Waits until ``expected`` executors have registered, or ``timeout`` seconds.

    The master launches them only once the application has registered, and until they have, the
    first job waits for them and ``sc.defaultParallelism`` counts no cores. Returns the count.
    """
    deadline = time.monotonic() + timeout
    count = executor_count(sc)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        count = executor_count(sc)
    if count < expected:
        _log("%d/%d Spark executors registered after %g s; going on" % (count, expected, timeout))
    return count


def warm_python_workers(sc):
    """Runs one tiny task per core, so that every executor starts its Python workers now, while
    the session starts, and not in the user's first cell: on the 4-node test cluster the first
    job of the seed's pi took 6.2 s cold and 1.9 s once the workers were up."""
    slots = sc.defaultParallelism
    if slots < 1:
        return
    started = time.monotonic()
    try:
        sc.parallelize(range(slots), slots).map(lambda _: None).count()
    except Exception as e:  # the user's first job meets the same cause, with its full trace
        _log("could not start the executors' Python workers ahead: %s" % e)
        return
    _log("executors' Python workers started in %.1f s" % (time.monotonic() - started))


def _log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s hpc-jupyter: %s" % (stamp, message), file=sys.stderr, flush=True)


def write_connect_conf(session_dir, port, driver_address):
    """The Connect server's properties: the cluster's (its secret too), the server's port and a
    fresh token, which also goes alone into connect.token for clients."""
    with open(os.path.join(session_dir, CONF_FILE)) as f:
        base = f.read()
    token = secrets.token_urlsafe(32)
    props = {
        "spark.connect.authenticate.token": token,
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": driver_address,
        "spark.driver.host": driver_address,
        "spark.driver.bindAddress": driver_address,
    }
    text = base + "".join("%s %s\n" % item for item in props.items())
    write_private(os.path.join(session_dir, CONNECT_CONF_FILE), text)
    write_private(os.path.join(session_dir, CONNECT_TOKEN_FILE), token + "\n")
    write_private(
        os.path.join(session_dir, CONNECT_INFO_FILE),
        json.dumps({"port": port, "host": driver_address}),
    )


def connect_url(port, token):
    """The Connect URL for a server on this machine's loopback (see the module's note)."""
    return "sc://localhost:%d/;token=%s" % (port, token)


def _connect_info(directory):
    with open(os.path.join(directory, CONNECT_INFO_FILE)) as f:
        info = json.load(f)
    # A server started before the bind address was recorded listens everywhere, loopback too.
    return info.get("host") or "localhost", int(info["port"])


def _token_channel_builder(host, port, token):
    """A Connect channel to ``host:port`` (the server's node, from that node) that sends the
    token in every call's metadata over a plain channel (see the module's note)."""
    import collections

    import grpc
    from pyspark.sql.connect.client import DefaultChannelBuilder

    class _Details(
        collections.namedtuple(
            "_Details",
            ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
        ),
        grpc.ClientCallDetails,
    ):
        pass

    class _Bearer(
        grpc.UnaryUnaryClientInterceptor,
        grpc.UnaryStreamClientInterceptor,
        grpc.StreamUnaryClientInterceptor,
        grpc.StreamStreamClientInterceptor,
    ):
        def _with_token(self, d):
            metadata = list(d.metadata or []) + [("authorization", "Bearer " + token)]
            return _Details(
                d.method,
                d.timeout,
                metadata,
                d.credentials,
                getattr(d, "wait_for_ready", None),
                getattr(d, "compression", None),
            )

        def intercept_unary_unary(self, continuation, details, request):
            return continuation(self._with_token(details), request)

        def intercept_unary_stream(self, continuation, details, request):
            return continuation(self._with_token(details), request)

        def intercept_stream_unary(self, continuation, details, requests):
            return continuation(self._with_token(details), requests)

        def intercept_stream_stream(self, continuation, details, requests):
            return continuation(self._with_token(details), requests)

    target = "[%s]" % host if ":" in host else host
    builder = DefaultChannelBuilder("sc://%s:%d" % (target, port))
    builder.add_interceptor(_Bearer())
    return builder


def connect_remote(session_dir=None):
    """A Spark Connect session on the job's Connect server (a kernel on the server's node)."""
    directory = _session_dir(session_dir)
    host, port = _connect_info(directory)
    with open(os.path.join(directory, CONNECT_TOKEN_FILE)) as f:
        token = f.read().strip()
    from pyspark.sql import SparkSession

    if host == "localhost":
        return SparkSession.builder.remote(connect_url(port, token)).getOrCreate()
    # The classic builder takes only URLs; Spark Connect's own takes a channel builder. What
    # builder.remote() also does: tell pyspark.sql.functions (udf...) that this is Connect.
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    builder = _token_channel_builder(host, port, token)
    return ConnectSession.builder.channelBuilder(builder).getOrCreate()


def has_connect_server(session_dir=None):
    return os.path.exists(os.path.join(_session_dir(session_dir), CONNECT_INFO_FILE))


def wait_for_connect(session_dir, timeout, server_pid, slots):
    """Ready means usable: a Connect client with the token runs one task on each of ``slots``
    cores (which also starts the executors' Python workers, as warm_python_workers does for a
    kernel's driver). Gives up after ``timeout`` s or when the server process is gone."""
    deadline = time.monotonic() + timeout
    last_error = None
    host, port = _connect_info(session_dir)
    while time.monotonic() < deadline and _alive(server_pid):
        # The Connect client retries an absent server for minutes: knock first.
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError as e:
            last_error = e
            time.sleep(0.5)
            continue
        try:
            spark = connect_remote(session_dir)
            from pyspark.sql.functions import udf

            ran = udf(lambda _: socket.gethostname())
            rows = spark.range(0, slots, 1, slots).select(ran("id")).collect()
            _log("Spark Connect server answers; %d tasks ran" % len(rows))
            spark.stop()
            return
        except Exception as e:  # not listening yet, or still registering with the master
            last_error = e
            time.sleep(1)
    log = os.path.join(session_dir, "logs", "spark-connect.log")
    sys.exit(
        "hpc-jupyter: the Spark Connect server did not answer within %g s (%s)\n"
        "--- last lines of %s ---\n%s" % (timeout, last_error or "it exited", log, tail(log))
    )


def _alive(pid):
    """Whether ``pid`` runs: not gone, and not a zombie its parent (the job's shell) has yet to
    reap, which os.kill(pid, 0) would count as alive."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def alive_workers(master_ui, session_dir):
    request = urllib.request.Request(
        master_ui.rstrip("/") + "/json/",
        headers={"Authorization": webui.authorization(session_dir)},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        state = json.load(r)
    return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]


def _names(node):
    names = {node}
    try:
        names.add(socket.gethostbyname(node))
    except OSError:
        pass
    return names


def wait_for_workers(session_dir, expected, timeout, master_ui, nodes):
    deadline = time.monotonic() + timeout
    last, workers = -1, []
    while True:
        try:
            workers = alive_workers(master_ui, session_dir)
        except (OSError, ValueError):
            # Not listening yet, or answering before its JSON view is up (an empty body).
            workers = []
        count = len(workers)
        if count != last:
            _log("%d/%d Spark workers registered" % (count, expected))
            last = count
        if count >= expected:
            return count
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    hosts = {w.get("host") for w in workers}
    missing = [n for n in dict.fromkeys(nodes) if not (_names(n) & hosts)]
    report = [
        "hpc-jupyter: only %d/%d Spark workers registered within %g s; nodes without a "
        "worker: %s" % (last, expected, timeout, ", ".join(missing) or "none")
    ]
    for node in missing:
        log = os.path.join(session_dir, "logs", "spark-worker-%s.log" % node)
        report.append("--- %s (last lines of %s) ---\n%s" % (node, log, tail(log)))
    sys.exit("\n".join(report))


def main(argv):
    if len(argv) == 5 and argv[0] == "conf":
        write_conf(argv[1], argv[2], int(argv[3]), argv[4])
    elif len(argv) >= 5 and argv[0] == "wait":
        print(wait_for_workers(argv[1], int(argv[2]), float(argv[3]), argv[4], argv[5:]))
    elif len(argv) == 4 and argv[0] == "connect-conf":
        write_connect_conf(argv[1], int(argv[2]), argv[3])
    elif len(argv) == 5 and argv[0] == "connect-wait":
        wait_for_connect(argv[1], float(argv[2]), int(argv[3]), max(1, int(argv[4])))
    else:
        sys.exit(
            "usage: python -m hpc_jupyter.spark_engine conf SESSION_DIR MASTER_URL APP_UI_PORT "
            "EXECUTOR_MEMORY | wait SESSION_DIR WORKERS TIMEOUT_S MASTER_UI_URL NODE... | "
            "connect-conf SESSION_DIR PORT DRIVER_ADDRESS | connect-wait SESSION_DIR TIMEOUT_S "
            "SERVER_PID SLOTS"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
