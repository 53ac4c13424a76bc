"""Clients of an engine session from outside its job (a laptop, a login node, a notebook).

    from hpc_jupyter.client import dask, ipyparallel, spark
    client = dask("s0123456789ab")        # a distributed.Client
    rc = ipyparallel("s0123456789ab")     # an ipyparallel.Client
    spark = spark("s0123456789ab")        # a Spark Connect SparkSession (connectServer=true)

Each asks the user's hpc-jupyter agent (over its unix socket, see :mod:`hpc_jupyter.agent`) to
attach to the session: the agent forwards the scheduler's or controller's ports to this machine
through its SSH connection and copies the engine's client files into a private directory
(0700, files 0600). The client connects to those 127.0.0.1 forwards. An ipyparallel client
speaks CurveZMQ end to end with the controller, through the forwards (a client file without the
controller's CURVE key is refused).

Dask's TLS is verified as strictly as inside the job, and more: the per-job CA must have signed
the scheduler's certificate, and that certificate must name the scheduler's node (the agent says
which name, ``serverHostname``), checked as the TLS server name although the socket goes to
127.0.0.1. Verification is never turned off.
"""

from .agent import AgentError
from .agent import connect as _connect_agent

__all__ = ["attach", "dask", "dask_security", "ipyparallel", "spark", "wait_for_iopub"]


def attach(session_id, agent=None):
    """The agent's answer for the session: local address and client files (no secret)."""
    return (agent or _connect_agent()).attach(session_id)


def dask_security(attached):
    """A distributed.Security for an attachment's TLS files, checking the server name too."""
    from distributed.security import Security

    class _NodeSecurity(Security):
        # Dask checks only the CA (its peers are addressed by IP); a client outside the job also
        # checks that the certificate names the scheduler's node, as the agent reported it. (No
        # __slots__ here: Security checks its keyword arguments against self.__slots__.)
        server_hostname = None

        def get_connection_args(self, role):
            args = super().get_connection_args(role)
            context = args.get("ssl_context")
            if context is not None and self.server_hostname:
                context.check_hostname = True
                args["server_hostname"] = self.server_hostname
            return args

    info = attached["dask"]
    tls = info["tls"]
    security = _NodeSecurity(
        tls_ca_file=tls["caFile"],
        tls_client_cert=tls["certFile"],
        tls_client_key=tls["keyFile"],
        require_encryption=True,
    )
    security.server_hostname = info.get("serverHostname")
    return security


def dask(session_id, agent=None, **kwargs):
    """A distributed.Client connected to the session's Dask scheduler through the agent."""
    from distributed import Client

    attached = attach(session_id, agent)
    if attached.get("kind") != "dask":
        raise AgentError("Session %s is not a Dask cluster (%s)." % (session_id, attached["kind"]))
    return Client(attached["dask"]["address"], security=dask_security(attached), **kwargs)


def ipyparallel(session_id, agent=None, **kwargs):
    """An ipyparallel.Client connected to the session's controller through the agent."""
    import ipyparallel as ipp

    attached = attach(session_id, agent)
    if attached.get("kind") != "ipyparallel":
        raise AgentError(
            "Session %s is not an ipyparallel cluster (%s)." % (session_id, attached["kind"])
        )
    from .ipp_engine import require_curve

    rc = ipp.Client(require_curve(attached["ipyparallel"]["connectionFile"]), **kwargs)
    wait_for_iopub(rc)
    return rc


def spark(session_id, agent=None):
    """A Spark Connect session on the session's Connect server through the agent.

    The token travels in the URL's ``token`` parameter, which pyspark sends without TLS only to
    the name ``localhost`` (gRPC's local credentials): the agent's forward is on loopback.
    """
    from pyspark.sql import SparkSession

    attached = attach(session_id, agent)
    if attached.get("kind") != "spark":
        raise AgentError("Session %s is not a Spark cluster (%s)." % (session_id, attached["kind"]))
    info = attached["spark"]
    with open(info["tokenFile"]) as f:
        token = f.read().strip()
    return SparkSession.builder.remote("%s/;token=%s" % (info["remote"], token)).getOrCreate()


def _noop():
    return None


def wait_for_iopub(rc, timeout=30.0):
    """Returns once the engines' output reaches this client.

    The client subscribes to the controller's iopub channel when it connects, and a subscription
    through a forwarded port takes a moment to take effect; output published before that (the
    first ``%px`` cell's) would be lost. So ask every engine for nothing until the answer's output
    messages arrive too.
    """
    import time

    if not rc.ids:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ar = rc[:].apply_async(_noop)
        ar.get(timeout=max(1.0, deadline - time.monotonic()))
        if ar.wait_for_output(timeout=1.0):
            return
