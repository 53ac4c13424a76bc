"""``python -m hpc_jupyter_app ARGS``: the same as the ``hpc-jupyter`` command."""

import sys

from . import main

sys.exit(main())
