"""This node's address for peers, chosen as the job runtime's ``hpcj_node_address`` chooses it
(templates/runtime/runtime.sh, HPCJ__NODE_ADDRESS_PY: keep the two in step).

$HPCJ_NODE_ADDRESS wins. Otherwise, of the addresses ``hostname -I`` reports: first the source
address this node uses towards the submit host (the login node, where the agent's tunnels come
from), the first node of the allocation and its own name; then the others in order. A private
address (not globally routable) always wins over a public one, so that a server never listens on
a node's public interface when the cluster network would do; loopback and link-local addresses
are never chosen. With none left, the address the host name resolves to.

``python -m hpc_jupyter.netaddr`` prints it (for a script that runs without the runtime, such as
a worker's node script under srun).
"""

import ipaddress
import os
import socket
import subprocess
import threading

__all__ = ["node_address", "choose"]


def _usable(text):
    try:
        a = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified:
        return None
    return a


def _sources(name, found):
    """The source address towards each address of ``name`` (a UDP connect sends nothing)."""
    try:
        infos = socket.getaddrinfo(name, 9, type=socket.SOCK_DGRAM)
    except OSError:
        return
    for family, kind, proto, _, sockaddr in infos:
        try:
            s = socket.socket(family, kind, proto)
            try:
                s.connect(sockaddr)
                found.append(s.getsockname()[0])
            finally:
                s.close()
        except OSError:
            pass


def _route_sources(name):
    """_sources in a thread, so that a slow name service costs at most 2 s."""
    found = []
    t = threading.Thread(target=_sources, args=(name, found), daemon=True)
    t.start()
    t.join(2)
    return list(found)


def choose(addresses, targets):
    """The address to publish among ``addresses`` (text), preferring the route to ``targets``;
    None when none is usable."""
    candidates = []
    for text in addresses:
        a = _usable(text)
        if a is not None and a not in candidates:
            candidates.append(a)
    preferred = []
    for name in targets:
        if not name:
            continue
        for text in _route_sources(name):
            a = _usable(text)
            if a in candidates and a not in preferred:
                preferred.append(a)
    ordered = preferred + [a for a in candidates if a not in preferred]
    private = [a for a in ordered if not a.is_global]
    return str((private or ordered)[0]) if ordered else None


def _first_node():
    nodes = os.environ.get("HPC_JUPYTER_NODES", "").replace(",", " ").split()
    if nodes:
        return nodes[0]
    nodelist = os.environ.get("SLURM_JOB_NODELIST", "")
    if not nodelist:
        return ""
    try:
        out = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.split()
        return out[0] if out else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def node_address():
    """This node's address for peers (see the module's docstring)."""
    if os.environ.get("HPCJ_NODE_ADDRESS"):
        return os.environ["HPCJ_NODE_ADDRESS"]
    try:
        addresses = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        addresses = []
    targets = (os.environ.get("SLURM_SUBMIT_HOST", ""), _first_node(), socket.gethostname())
    return choose(addresses, targets) or socket.gethostbyname(socket.gethostname())


if __name__ == "__main__":
    print(node_address())
