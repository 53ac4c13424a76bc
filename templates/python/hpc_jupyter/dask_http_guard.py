"""The token check in front of every HTTP server a Dask process of the job starts.

Dask's dashboard, and the small HTTP server every worker runs even with --no-dashboard
(/metrics, /health), have no authentication of their own. Importing this module replaces
distributed.node.RoutingApplication, the tornado application distributed builds each of them
on, with one whose find_handler (which tornado asks for every request, WebSocket upgrades too,
once its headers are read) answers 403 unless the request shows ``Authorization: Bearer <JWS>``
signed with the key in $HPCJ_WEBUI_KEY_FILE (see :mod:`hpc_jupyter.webui`). Without that
variable every request is refused: workers get none, as nothing of ours reads their HTTP.

The scheduler imports this before Dask builds it (hpc_jupyter.dask_engine); a worker, which the
nanny starts in a fresh process, through ``--preload hpc_jupyter.dask_http_guard``, which Dask
imports while it constructs the worker, before the worker's HTTP server starts.
"""

import os

import distributed.node
from distributed.http.routing import RoutingApplication
from tornado import web

from . import webui

KEY_FILE_ENV = "HPCJ_WEBUI_KEY_FILE"


def _key():
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        return None
    with open(path) as f:
        key = f.read().strip()
    if not key:
        raise RuntimeError("hpc-jupyter: the web UI key file %s is empty" % path)
    return key


class ForbiddenHandler(web.RequestHandler):
    def prepare(self):
        self.set_header("Cache-Control", "no-store")
        raise web.HTTPError(403, reason="Authorization required")


def guarded(key):
    """A RoutingApplication class that lets through only requests signed with ``key`` (none
    when ``key`` is None)."""

    class GuardedApplication(RoutingApplication):
        def find_handler(self, request, **kwargs):
            if key is not None and webui.verify(key, request.headers.get("Authorization")):
                return super().find_handler(request, **kwargs)
            return self.get_handler_delegate(request, ForbiddenHandler)

    return GuardedApplication


if not getattr(distributed.node.RoutingApplication, "_hpcj_guarded", False):
    distributed.node.RoutingApplication = guarded(_key())
    distributed.node.RoutingApplication._hpcj_guarded = True
