"""ipykernel, with nothing of it left on a TCP port when its connection file says ``ipc``.

Usage: python -m hpc_jupyter.ipc_kernel -f CONNECTION_FILE [ipykernel options]

The kernel template and the Jupyter server's kernels in a job run this instead of
``ipykernel_launcher``. With ``transport: ipc`` the five channels are unix sockets in a private
directory, but ipykernel still opens two TCP ports on 127.0.0.1 of the node, where any user of
that node can connect:

- the IOPub pipe, a PULL socket that takes output printed by forked subprocesses
  (multiprocessing): it is bound here as a unix socket beside the channels (``<ip>-pipe``, in
  the same 0700 directory), so a forked child's prints still reach the notebook;
- the debugger: debugpy listens on a TCP port for as long as a debugging session runs, and
  whoever connects to it runs code as the owner. The debugger is switched off (Jupyter's
  debugger panel then shows the kernel as not supporting debugging).

With any other transport this is plain ipykernel.
"""

import os
import sys


def _patch():
    import zmq
    from ipykernel import debugger, iostream
    from ipykernel.kernelapp import IPKernelApp
    from zmq.eventloop.zmqstream import ZMQStream

    original_in = iostream.IOPubThread._setup_pipe_in
    original_out = iostream.IOPubThread._setup_pipe_out

    def pipe_path():
        if not IPKernelApp.initialized():
            return None
        app = IPKernelApp.instance()
        return app.ip + "-pipe" if app.transport == "ipc" else None

    def setup_pipe_in(self):
        path = pipe_path()
        if path is None:
            return original_in(self)
        self._pipe_uuid = os.urandom(16)
        pipe_in = self.socket.context.socket(zmq.PULL)
        pipe_in.linger = 0
        pipe_in.bind("ipc://" + path)
        self._hpcj_pipe = path
        self._pipe_in = ZMQStream(pipe_in, self.io_loop)
        self._pipe_in.on_recv(self._handle_pipe_msg)
        return None

    def setup_pipe_out(self):
        path = getattr(self, "_hpcj_pipe", None)
        if path is None:
            return original_out(self)
        # A forked child: a context of its own, as ipykernel makes one.
        ctx = zmq.Context()
        pipe_out = ctx.socket(zmq.PUSH)
        pipe_out.linger = 3000
        pipe_out.connect("ipc://" + path)
        return ctx, pipe_out

    iostream.IOPubThread._setup_pipe_in = setup_pipe_in
    iostream.IOPubThread._setup_pipe_out = setup_pipe_out
    # Read by IPythonKernel as it starts: no debugger, so debugpy never opens its port.
    debugger._is_debugpy_available = False


def main():
    # As ipykernel_launcher does: the working directory is not where modules come from.
    if sys.path and (sys.path[0] == "" or os.path.abspath(sys.path[0]) == os.getcwd()):
        del sys.path[0]
    _patch()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
