"""The ``<base_url>hpc-jupyter/`` route of a Jupyter server: the browser's way to the agent.

Registered with jupyter-server-proxy through the ``jupyter_serverproxy_servers`` entry point
(pyproject.toml), so nothing user-specific is written into any Jupyter config: a shared
(``--sys-prefix``) install serves every user, and each user's Jupyter server, which runs as that
user, reaches that user's agent. The route goes to a small relay (``python -m
hpc_jupyter.serverproxy SOCKET``), started by jupyter-server-proxy on first use on a socket in
its own private temporary directory. For every connection the relay

- resolves the current user's agent socket as every client does (``$XDG_RUNTIME_DIR/hpc-jupyter``,
  else ``<tmp>/hpc-jupyter-<uid>``, see :mod:`hpc_jupyter.agent`), creating the 0700 directory if
  it is missing, so nobody can plant one there later;
- refuses, with an HTTP 503 whose JSON body says why and what to do (the sidebar shows it), a
  directory that is a symlink, is not ours or is open to anyone else, and a socket that is not a
  socket or not ours: it never connects to such a socket;
- starts the agent when nothing answers (the way every client does, through an ``hpc-jupyter``
  command, so the agent is detached and outlives Jupyter), then relays bytes both ways (plain
  requests and the agent's event stream alike).
"""

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys

from . import agent as _agent

__all__ = ["setup_hpc_jupyter", "check_runtime_dir", "Refused"]

_log = logging.getLogger("ServerApp")
# A request head larger than this is not the agent's API; the relay answers before reading more.
_MAX_HEAD = 64 * 1024


class Refused(Exception):
    """The agent's directory or socket is not safe to use; ``hint`` says what to do."""

    def __init__(self, message, hint):
        super().__init__(message)
        self.message = message
        self.hint = hint


def check_runtime_dir(path, uid=None):
    """Creates ``path`` (0700) if missing; raises :class:`Refused` unless it is ours and private."""
    uid = os.getuid() if uid is None else uid
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise Refused(
            "Cannot create the agent's directory %s (%s)." % (path, e.strerror),
            "Check that XDG_RUNTIME_DIR (or the temp directory) exists and is writable.",
        ) from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise Refused(
            "Refusing to use %s: it is not a plain directory (a link, or a file)." % path,
            "Another user may be trying to intercept the agent: remove it, or ask your "
            "administrator; the agent creates the directory itself.",
        )
    if info.st_uid != uid:
        raise Refused(
            "Refusing to use %s: it belongs to user %d, not to you (%d)." % (path, info.st_uid, uid),
            "Another user may be trying to intercept the agent: ask your administrator, or set "
            "XDG_RUNTIME_DIR to a private directory.",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode != 0o700:
        raise Refused(
            "Refusing to use %s: its mode is %04o, not 0700." % (path, mode),
            "Run `chmod 700 %s` if you made it, or remove it." % path,
        )


def check_socket(path, uid=None):
    """True if ``path`` is our socket, False if it is missing; :class:`Refused` otherwise."""
    uid = os.getuid() if uid is None else uid
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != uid:
        raise Refused(
            "Refusing to connect to %s: it is not a socket of yours." % path,
            "Remove it; the agent creates its socket itself.",
        )
    return True


def _error_response(status, reason, message, hint, kind):
    body = json.dumps({"error": {"message": message, "hint": hint, "kind": kind}}).encode()
    head = (
        "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        "cache-control: no-store\r\nconnection: close\r\n\r\n" % (status, reason, len(body))
    )
    return head.encode() + body


class Relay:
    """Accepts the proxy's connections and carries each one to the checked agent socket."""

    def __init__(self, env=None):
        self.env = dict(os.environ if env is None else env)
        self.socket = _agent.socket_path(self.env)
        self._starting = asyncio.Lock()
        self._last_refusal = None

    def check(self):
        check_runtime_dir(os.path.dirname(self.socket))
        return check_socket(self.socket)

    async def handle(self, reader, writer):
        try:
            upstream = await self._connect()
        except (Refused, _agent.AgentError) as e:
            refused = isinstance(e, Refused)
            hint = e.hint or ""
            if refused and str(e) != self._last_refusal:
                self._last_refusal = str(e)
                print("hpc-jupyter: %s %s" % (e.message, hint), file=sys.stderr, flush=True)
            await _drain_head(reader)
            kind = "AgentRefused" if refused else (getattr(e, "kind", None) or "AgentUnreachable")
            writer.write(_error_response(503, "Service Unavailable", e.message, hint, kind))
            await _close(writer)
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        await _close(up_writer)
        await _close(writer)

    async def _connect(self):
        if self.check():
            try:
                return await asyncio.open_unix_connection(self.socket)
            except (ConnectionRefusedError, FileNotFoundError):
                pass  # a stale socket: the agent is not running
        async with self._starting:
            # Another connection may have started it meanwhile; check again before each use.
            if self.check():
                try:
                    return await asyncio.open_unix_connection(self.socket)
                except (ConnectionRefusedError, FileNotFoundError):
                    pass
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, lambda: _agent.connect(start=True, env=self.env))
            except (OSError, subprocess.SubprocessError) as e:
                raise _agent.AgentError(
                    "Could not start the hpc-jupyter agent: %s" % e,
                    hint="Put hpc-jupyter on PATH, or set HPC_JUPYTER_COMMAND to its command line, "
                    "for the Jupyter server; or start the agent with `hpc-jupyter agent &`.",
                    kind="AgentStartFailed",
                ) from None
            if not self.check():
                raise _agent.AgentError("The hpc-jupyter agent started but has no socket.")
            return await asyncio.open_unix_connection(self.socket)


async def _drain_head(reader):
    """Reads the request head (bounded) so the client sees the answer rather than a reset."""
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, OSError):
        pass


async def _pump(src, dst):
    try:
        while True:
            data = await src.read(65536)
            if not data:
                break
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (OSError, RuntimeError):
        dst.transport.abort()


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass


async def serve(listen_path, env=None):
    relay = Relay(env)
    server = await asyncio.start_unix_server(relay.handle, path=listen_path, limit=_MAX_HEAD)
    os.chmod(listen_path, 0o600)
    async with server:
        await server.serve_forever()


def setup_hpc_jupyter():
    """The ``jupyter_serverproxy_servers`` entry point: the route's settings, checked now."""
    relay_dir = os.path.dirname(_agent.socket_path())
    try:
        # Made now, at server start, if missing: a directory that exists and is ours cannot be
        # taken over later (in a sticky /tmp nobody else may remove or rename it).
        check_runtime_dir(relay_dir)
    except Refused as e:
        # The route still answers, with this same refusal, so the sidebar can show it.
        _log.warning("hpc-jupyter: %s %s", e.message, e.hint)
    return {
        "command": [sys.executable, "-m", "hpc_jupyter.serverproxy", "{unix_socket}"],
        # True: jupyter-server-proxy puts the relay's socket in a fresh private directory.
        "unix_socket": True,
        # Starting the agent (a Node process, its SSH connections later) can take a few seconds.
        "timeout": 60,
        "launcher_entry": {"enabled": False},
        "new_browser_tab": False,
    }


def main(argv):
    if len(argv) != 1:
        print("usage: python -m hpc_jupyter.serverproxy SOCKET", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(argv[0]))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
