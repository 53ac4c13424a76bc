"""The engine of an extra engine job (templates/ipyparallel-engines): ipyparallel's own engine,
which tells the controller it leaves the moment it is stopped (SIGTERM: the session stopped, or
the walltime), so that scaling down shows in the cluster at once.

Usage: python -m hpc_jupyter.ipp_extra_engine IPENGINE-ARGS...

A plain engine leaves only through its nanny process, which unregisters it once it has exited;
but the batch system signals every process of the step, the nanny too, and the job's runtime
stops orphans at once, so that seldom happens. The controller then drops the engine only after
30 missed heartbeats (30 s with the ipyparallel template's settings).
"""

import sys

import zmq
from ipyparallel.engine.app import IPEngine

# How long the goodbye may take to reach the controller before the engine stops without it.
LINGER_MS = 3000


class LeavingEngine(IPEngine):
    """An IPEngine that sends its unregistration request on SIGTERM, before it stops."""

    left = False

    def _signal_stop(self, sig, frame):
        self.leave()
        super()._signal_stop(sig, frame)

    def leave(self):
        """Asks the controller to drop this engine; returns once the request is sent."""
        if self.left or self.id is None:  # not registered (yet): nothing to leave
            return
        self.left = True
        # A socket of its own in a context of its own: terminating that context waits until the
        # request is on the wire (or LINGER_MS passed), and touches none of the engine's sockets.
        context = zmq.Context()
        try:
            connect, _ = self.init_connector()
            sock = context.socket(zmq.DEALER)
            sock.linger = LINGER_MS
            connect(sock, self.registration_url)
            self.session.send(sock, "unregistration_request", content={"id": self.id})
            sock.close()
            self.log.info("asked the controller to unregister engine %s", self.id)
        except Exception:
            self.log.error(
                "could not ask the controller to unregister engine %s", self.id, exc_info=True
            )
        finally:
            context.term()


def main(argv):
    engine = LeavingEngine.instance()
    engine.initialize(argv)
    try:
        engine.start()
    except RuntimeError:
        # ipyparallel's stop on SIGTERM ends the event loop under a pending future; that is the
        # way out we asked for, not an error.
        if not engine.left:
            raise


if __name__ == "__main__":
    main(sys.argv[1:])
