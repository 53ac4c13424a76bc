"""Engines inside the Slurm allocation a kernel already runs in, as CSCS's ipcmagic does.

``%cluster start ENGINE -n N`` in a kernel with ``SLURM_JOB_ID`` set (and no ``--cluster``)
submits nothing: the controller or scheduler starts here, on this node, and the engines or
workers on N nodes of the allocation as one ``srun --overlap`` step. Their files (ipyparallel's
connection files with the key; Dask's per-cluster TLS files) go 0600 into a 0700 directory below
$HPCJ_SESSION_DIR (else the working directory), which the other nodes must see: the shared
filesystem a job runs on. Stopping ends the step and the controller or scheduler.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import webui
from .files import make_private_dir, tail
from .netaddr import node_address

ENGINES = ("dask", "ipyparallel")


def in_allocation():
    return bool(os.environ.get("SLURM_JOB_ID"))


def allocation_nodes():
    """How many nodes the allocation has (SLURM_JOB_NUM_NODES, else SLURM_NNODES)."""
    for name in ("SLURM_JOB_NUM_NODES", "SLURM_NNODES"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


class AllocationCluster:
    """One engine cluster started within the allocation; ``start`` returns its client."""

    def __init__(self, engine, nodes, name):
        if engine not in ENGINES:
            raise ValueError("only %s start inside an allocation" % " and ".join(ENGINES))
        self.engine = engine
        self.nodes = nodes
        self.name = name
        self.state = "starting"
        base = os.environ.get("HPCJ_SESSION_DIR") or os.getcwd()
        parent = make_private_dir(os.path.join(base, "allocation-clusters"))
        self.directory = make_private_dir(tempfile.mkdtemp(prefix="%s-" % engine, dir=parent))
        # Not "log": that is the log directory of ipyparallel's profile, which this also is.
        self.log = os.path.join(self.directory, "cluster.log")
        self._procs = []
        self.client = None

    # ---- processes ----------------------------------------------------------------------------

    def _spawn(self, argv):
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # its own group: stopped as one, not by a kernel interrupt
            )
        self._procs.append(proc)
        return proc

    def _srun(self, argv):
        srun = shutil.which("srun")
        if srun is None:
            raise RuntimeError("srun is not on PATH: cannot start engines in this allocation")
        return self._spawn(
            [
                srun,
                "--overlap",
                "--jobid=%s" % os.environ["SLURM_JOB_ID"],
                "--nodes=%d" % self.nodes,
                "--ntasks=%d" % self.nodes,
                "--ntasks-per-node=1",
                "--kill-on-bad-exit=0",
            ]
            + argv
        )

    def _wait_file(self, path, what, timeout=120):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if any(p.poll() is not None for p in self._procs) or time.monotonic() > deadline:
                self.fail("the %s did not start" % what)
            time.sleep(0.1)

    def fail(self, message):
        log = tail(self.log, 30)
        self.stop()
        raise RuntimeError("%s\n--- end of its log ---\n%s" % (message, log))

    # ---- start --------------------------------------------------------------------------------

    def start(self, progress, timeout=300):
        """Starts everything, updates ``progress(text)`` while workers join; returns the client."""
        start = self._start_dask if self.engine == "dask" else self._start_ipyparallel
        return start(progress, timeout)

    def _start_ipyparallel(self, progress, timeout):
        import ipyparallel

        from .ipp_engine import require_curve, write_controller_config

        address = node_address()
        # CurveZMQ on every controller port, as in the ipyparallel template: nobody without the
        # connection files can subscribe to the engines' output on this node's address.
        write_controller_config(self.directory)
        self._spawn(
            [
                sys.executable, "-m", "ipyparallel.controller", "--ip=%s" % address,
                "--location=%s" % address, "--profile-dir=%s" % self.directory,
            ]
        )
        security = os.path.join(self.directory, "security")
        engine_file = os.path.join(security, "ipcontroller-engine.json")
        self._wait_file(engine_file, "ipyparallel controller")
        self._srun(
            [
                sys.executable, "-m", "ipyparallel.engine",
                "--profile-dir=%s" % self.directory, "--file=%s" % engine_file,
            ]
        )
        rc = ipyparallel.Client(
            require_curve(os.path.join(security, "ipcontroller-client.json")), timeout=60
        )
        self.client = rc
        self._wait_joined(progress, timeout, lambda: len(rc.ids), "engines", rc)
        from .client import wait_for_iopub

        wait_for_iopub(rc)  # so that the first %px cell's output is not lost
        return rc

    def _start_dask(self, progress, timeout):
        import json

        from distributed import Client
        from distributed.security import Security

        from .tls import make_tls_files

        address = node_address()
        tls = os.path.join(self.directory, "tls")
        make_tls_files(tls, names=[address, socket.gethostname()])
        tls_args = [
            "--tls-ca-file", os.path.join(tls, "ca.pem"),
            "--tls-cert", os.path.join(tls, "cert.pem"),
            "--tls-key", os.path.join(tls, "key.pem"),
        ]
        scheduler_file = os.path.join(self.directory, "scheduler.json")
        # The dashboard answers only requests signed with this cluster's web UI key (0600 here).
        webui.make_key(self.directory)
        self._spawn(
            [
                sys.executable, "-m", "hpc_jupyter.dask_engine", "scheduler",
                "--webui-key", os.path.join(self.directory, webui.KEY_FILE), "--protocol", "tls",
                "--host", address, "--port", "0", "--dashboard-address", "%s:0" % address,
                "--scheduler-file", scheduler_file,
            ]
            + tls_args
        )
        self._wait_file(scheduler_file, "Dask scheduler")
        time.sleep(0.2)  # written in one go, but give a slow filesystem a moment
        with open(scheduler_file) as f:
            scheduler = json.load(f)["address"]
        cpus = os.environ.get("SLURM_CPUS_PER_TASK", "")
        self._srun(
            [
                sys.executable, "-m", "hpc_jupyter.dask_engine", "worker", scheduler, "--nworkers", "1",
                "--nthreads", cpus if cpus.isdigit() else "1", "--no-dashboard",
                "--local-directory", tempfile.gettempdir(),
            ]
            + tls_args
        )
        client = Client(
            scheduler,
            security=Security(
                tls_ca_file=os.path.join(tls, "ca.pem"),
                tls_client_cert=os.path.join(tls, "cert.pem"),
                tls_client_key=os.path.join(tls, "key.pem"),
                require_encryption=True,
            ),
            timeout=60,
        )
        self.client = client

        def count():
            return len(client.scheduler_info(n_workers=-1)["workers"])

        self._wait_joined(progress, timeout, count, "workers")
        return client

    def _wait_joined(self, progress, timeout, count, noun, rc=None):
        deadline = time.monotonic() + timeout
        last = -1
        while True:
            if rc is not None:
                try:
                    # Processes the controller's registration notifications while it waits.
                    rc.wait_for_engines(self.nodes, timeout=1, block=True, interactive=False)
                except TimeoutError:
                    pass
            else:
                time.sleep(0.5)
            n = count()
            if n != last:
                progress("%s in this allocation | starting | %d/%d %s" % (
                    self.engine, n, self.nodes, noun))
                last = n
            if n >= self.nodes:
                self.state = "ready"
                return
            if time.monotonic() > deadline or any(p.poll() is not None for p in self._procs):
                self.fail("only %d/%d %s joined" % (n, self.nodes, noun))

    # ---- stop ---------------------------------------------------------------------------------

    def stop(self):
        """Closes the client, ends the step and the controller or scheduler; idempotent."""
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # a cluster that is going away may not say goodbye
                pass
            self.client = None
        for proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs = []
        self.state = "stopped"
        # The connection files hold the cluster's key: nothing of it stays behind.
        shutil.rmtree(self.directory, ignore_errors=True)
