"""hpc-jupyter inside a batch job: engine start-up helpers and the clients a kernel gets.

The job templates (templates/dask, templates/ipyparallel, templates/spark) call the modules here
with ``python -m hpc_jupyter.<module>``; a kernel in the job runs :mod:`hpc_jupyter.startup`.
Outside jobs, :mod:`hpc_jupyter.client` connects to an engine through the user's agent, and
``%load_ext hpc_jupyter`` loads the ``%cluster`` magics (:mod:`hpc_jupyter.magics`).
Every secret is read from a 0600 file in the session directory, never from argv or environment.
"""

import os

__all__ = ["load_ipython_extension", "session_dir"]


def session_dir(path=None):
    """The session directory: ``path``, else $HPCJ_SESSION_DIR, else the working directory."""
    return os.path.abspath(path or os.environ.get("HPCJ_SESSION_DIR") or os.getcwd())


def load_ipython_extension(ipython):
    """``%load_ext hpc_jupyter``: the ``%cluster`` magics (see :mod:`hpc_jupyter.magics`)."""
    from .magics import load_ipython_extension as load

    load(ipython)
