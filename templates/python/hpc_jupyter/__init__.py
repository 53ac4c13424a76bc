"""hpc-jupyter inside a batch job: engine start-up helpers and the clients a kernel gets.

The job templates (templates/dask, templates/ipyparallel, templates/spark) call the modules here
with ``python -m hpc_jupyter.<module>``; a kernel in the job runs :mod:`hpc_jupyter.startup`.
Outside jobs, :mod:`hpc_jupyter.client` connects to an engine through the user's agent, and
``%load_ext hpc_jupyter`` loads the ``%cluster`` magics (:mod:`hpc_jupyter.magics`).
Every secret is read from a 0600 file in the session directory, never from argv or environment.
"""

import os

__all__ = ["__version__", "load_ipython_extension", "session_dir"]

#: The same as packages/core/package.json's version: `npm run dist` checks that they match.
__version__ = "0.1.0"


def session_dir(path=None):
    """The session directory: ``path``, else $HPCJ_SESSION_DIR, else the working directory."""
    return os.path.abspath(path or os.environ.get("HPCJ_SESSION_DIR") or os.getcwd())


def wait_options(rest):
    """``[--prefix NAME] [--parent DIR] NODE...`` of an engine's ``wait`` command (the extra
    workers' or engines' name prefix and the cluster's session directory) as
    ``(nodes, prefix, parent)``."""
    prefix, parent = "", None
    while len(rest) >= 2 and rest[0] in ("--prefix", "--parent"):
        if rest[0] == "--prefix":
            prefix = rest[1]
        else:
            parent = rest[1]
        rest = rest[2:]
    return list(rest), prefix, parent


def load_ipython_extension(ipython):
    """``%load_ext hpc_jupyter``: the ``%cluster`` magics (see :mod:`hpc_jupyter.magics`)."""
    from .magics import load_ipython_extension as load

    load(ipython)
