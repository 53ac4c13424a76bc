"""The per-user hpc-jupyter agent, from Python: its HTTP API over its unix socket.

The agent (``hpc-jupyter agent``, packages/core/src/agent) listens on
``$XDG_RUNTIME_DIR/hpc-jupyter/agent.sock``, else ``$TMPDIR/hpc-jupyter-<uid>/agent.sock``
(/tmp without TMPDIR), in a 0700 directory that only the user can enter: the socket is its only
access control, so the directory is checked before anything is sent. The routes are those of
packages/core/openapi/agent.yaml. If nothing answers, :func:`connect` starts the agent the way
every client does, by running an ``hpc-jupyter`` command (which starts it on demand):
``$HPC_JUPYTER_COMMAND`` (a command line, e.g. ``node /path/to/main.js``), else ``hpc-jupyter``
on PATH. Every request sends ``X-HPC-Jupyter: 1``: the agent refuses state changes without it
(that header is what keeps other web pages, relayed by JupyterLab, out).
"""

import http.client
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import urllib.parse

__all__ = ["Agent", "AgentError", "connect", "socket_path"]

#: Sent with every request (packages/core/src/agent/request-guard.ts).
CLIENT_HEADERS = {"x-hpc-jupyter": "1"}


class AgentError(Exception):
    """An error the agent answered with (``kind`` is its error class), or no agent at all."""

    def __init__(self, message, hint=None, kind=None, status=None):
        super().__init__(message if not hint else "%s\n%s" % (message, hint))
        self.message = message
        self.hint = hint
        self.kind = kind
        self.status = status


def runtime_dir(env=None):
    env = os.environ if env is None else env
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "hpc-jupyter")
    # As Node's os.tmpdir() on POSIX, so that both find the same socket.
    tmp = (env.get("TMPDIR") or env.get("TMP") or env.get("TEMP") or "/tmp").rstrip("/") or "/"
    return os.path.join(tmp, "hpc-jupyter-%d" % os.getuid())


def socket_path(env=None):
    return os.path.join(runtime_dir(env), "agent.sock")


def _check_private_dir(path):
    """Refuses a runtime directory someone else could have made to intercept the socket."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise AgentError(
            "The hpc-jupyter agent is not running (%s does not exist)." % path,
            kind="AgentUnreachable",
        ) from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise AgentError("Refusing to use %s: it is not a plain directory." % path)
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) != 0o700:
        raise AgentError(
            "Refusing to use %s: it must be yours with mode 0700." % path,
            hint="Another user may be trying to intercept the agent; remove the directory.",
        )


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Agent:
    """One typed method per route this package uses."""

    def __init__(self, path=None):
        self.path = path or socket_path()

    def request(self, method, route, body=None, timeout=120):
        _check_private_dir(os.path.dirname(self.path))
        conn = _UnixConnection(self.path, timeout)
        try:
            headers = dict(CLIENT_HEADERS, accept="application/json")
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["content-type"] = "application/json"
            conn.request(method, route, body=payload, headers=headers)
            res = conn.getresponse()
            text = res.read().decode("utf-8", "replace")
        except OSError as e:
            raise AgentError(
                "The hpc-jupyter agent does not answer on %s (%s)." % (self.path, e),
                hint="Start it with `hpc-jupyter agent`, or run any hpc-jupyter command.",
                kind="AgentUnreachable",
            ) from e
        finally:
            conn.close()
        value = json.loads(text) if text else None
        if res.status >= 400:
            error = (value or {}).get("error", {}) if isinstance(value, dict) else {}
            raise AgentError(
                error.get("message") or "The agent answered %d." % res.status,
                hint=error.get("hint"),
                kind=error.get("kind"),
                status=res.status,
            )
        return value

    def health(self):
        return self.request("GET", "/v1/health", timeout=5)

    def sessions(self):
        return self.request("GET", "/v1/sessions")["sessions"]

    def session(self, session_id):
        return self.request("GET", "/v1/sessions/" + _q(session_id))

    def start(self, cluster, template, params=None):
        spec = {"cluster": cluster, "template": template, "params": dict(params or {})}
        return self.request("POST", "/v1/sessions", spec, timeout=600)

    def stop(self, session_id):
        return self.request("DELETE", "/v1/sessions/" + _q(session_id), timeout=300)

    def logs(self, session_id, lines=100):
        route = "/v1/sessions/%s/logs?lines=%d" % (_q(session_id), int(lines))
        return self.request("GET", route)["text"]

    def attach(self, session_id):
        """The engine through local forwards and its client files (see ``connect ID``)."""
        return self.request("POST", "/v1/sessions/%s/attach" % _q(session_id), timeout=300)


def _q(part):
    return urllib.parse.quote(str(part), safe="")


def _command(env):
    line = env.get("HPC_JUPYTER_COMMAND", "")
    if line:
        return shlex.split(line)
    found = shutil.which("hpc-jupyter")
    return [found] if found else None


def connect(start=True, env=None):
    """An :class:`Agent` that answers; starts the agent if needed and ``start`` is true."""
    env = os.environ if env is None else env
    agent = Agent(socket_path(env))
    try:
        agent.health()
        return agent
    except AgentError as e:
        if not start or e.kind != "AgentUnreachable":
            raise
    command = _command(env)
    if command is None:
        raise AgentError(
            "The hpc-jupyter agent is not running, and no hpc-jupyter command was found to "
            "start it.",
            hint="Put hpc-jupyter on PATH, or set HPC_JUPYTER_COMMAND to its command line.",
            kind="AgentUnreachable",
        )
    # Any command that talks to the agent starts it on demand (detached, with a start-up lock).
    done = subprocess.run(
        command + ["templates", "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env),
        timeout=60,
    )
    if done.returncode != 0:
        raise AgentError(
            "Could not start the hpc-jupyter agent: %s"
            % done.stderr.decode("utf-8", "replace").strip(),
            kind="AgentStartFailed",
        )
    agent.health()
    return agent
