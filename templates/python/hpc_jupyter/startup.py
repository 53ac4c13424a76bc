"""Start-up code for a kernel or notebook in an engine job: the engine's client, ready.

In IPython (a kernel's start-up file, ``--IPKernelApp.exec_lines``, or by hand)::

    from hpc_jupyter.startup import *   # noqa: F403

gives ``client`` in a Dask job, ``rc`` (with ``%px`` active) in an ipyparallel job, and ``spark``
and ``sc`` in a Spark job (``spark`` alone, a Spark Connect session, when the job runs a Connect
server: that server is then the cluster's driver, and Connect has no SparkContext). Which engine it is comes from $HPCJ_TEMPLATE, else from the files in
the session directory ($HPCJ_SESSION_DIR, else the working directory).
"""

import os

from . import session_dir as _session_dir

__all__ = []


def _engine(directory):
    template = os.environ.get("HPCJ_TEMPLATE", "")
    if template in ("dask", "ipyparallel", "spark"):
        return template
    for engine, marker in (
        ("dask", "dask-scheduler.json"),
        ("ipyparallel", "ipyparallel"),
        ("spark", "spark"),
    ):
        if os.path.exists(os.path.join(directory, marker)):
            return engine
    return None


def _start():
    directory = _session_dir()
    engine = _engine(directory)
    if engine == "dask":
        from .dask_engine import connect

        globals()["client"] = connect(directory)
        __all__.append("client")
    elif engine == "ipyparallel":
        from .ipp_engine import connect

        rc = connect(directory)
        try:
            from IPython import get_ipython
        except ImportError:
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            rc.activate()  # %px, %%px, %autopx on every engine
        globals()["rc"] = rc
        __all__.append("rc")
    elif engine == "spark":
        from .spark_engine import connect, connect_remote, has_connect_server

        if has_connect_server(directory):
            globals()["spark"] = connect_remote(directory)
            __all__.append("spark")
            return
        spark = connect(directory)
        globals()["spark"] = spark
        globals()["sc"] = spark.sparkContext
        __all__.extend(["spark", "sc"])


_start()
