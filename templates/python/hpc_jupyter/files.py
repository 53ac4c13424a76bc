"""Private files: written atomically with mode 0600, as the shell runtime writes them."""

import os


def write_private(path, data, mode=0o600):
    """Writes ``data`` (str or bytes) to ``path`` atomically, readable only by the user."""
    if isinstance(data, str):
        data = data.encode()
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def make_private_dir(path):
    """Creates ``path`` (mode 0700) if missing and makes sure it is private."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def tail(path, lines=20):
    """The last ``lines`` lines of a text file, or a note that it could not be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(no log: %s)" % e.strerror
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def node_name():
    """The allocation's name for this node: HPCJ_NODE_NAME (set by the runtime's launcher)."""
    import socket

    return os.environ.get("HPCJ_NODE_NAME") or socket.gethostname()
