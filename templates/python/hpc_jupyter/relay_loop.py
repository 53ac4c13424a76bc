"""The relay's data path (:mod:`hpc_jupyter.relay`): one thread, one ``selectors`` loop over
non-blocking ``ssl.SSLSocket``s (the TLS side) and non-blocking unix sockets (the kernel's side).

Why not asyncio: its TLS runs through a pure-Python SSLProtocol over a MemoryBIO, which cost
150-200 us per round trip against 20 us for a plain unix hop; here OpenSSL reads and writes the
socket itself and a message costs a recv and a send on each side. Only this one thread ever
touches an SSL object (OpenSSL forbids concurrent reads and writes on one).

A TLS connection is piped only after its handshake finished (the context requires the client
certificate); until the kernel's socket is connected nothing is read from it, so nothing is lost.
What one side cannot take at once is queued and that side waits for writability; past
``high_water`` queued bytes the other side stops being read until the queue drains.
"""

import collections
import errno
import heapq
import selectors
import socket
import ssl
import time

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
# One unix recv takes up to this much; a TLS recv returns at most one record (16 KiB).
CHUNK = 256 * 1024
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantWriteError)


class _End:
    """One socket of a pair and the bytes queued for it."""

    def __init__(self, pair, sock, tls):
        self.pair = pair
        self.sock = sock
        self.tls = tls
        self.peer = None
        self.out = collections.deque()
        self.queued = 0
        self.reading = True
        self.mask = 0
        # OpenSSL may need the other direction to finish a read or a write.
        self.read_wants_write = False
        self.write_wants_read = False

    def event(self, mask):
        pair = self.pair
        if pair.closed:  # closed by an earlier event of the same select
            return
        if self.out and (mask & WRITE or (self.write_wants_read and mask & READ)):
            pair.flush(self)
        if pair.closed:
            return
        if self.reading and (mask & READ or (self.read_wants_write and mask & WRITE)):
            pair.pump(self)
        if not pair.closed:
            pair.update(self)


class _Pair:
    """A TLS connection and its unix socket to the kernel, piped both ways."""

    def __init__(self, loop, outer, inner):
        self.loop = loop
        self.closed = False
        # An end said EOF: the other end's queue is sent out, then both close.
        self.closing = False
        self.outer = _End(self, outer, True)
        self.inner = _End(self, inner, False)
        self.outer.peer, self.inner.peer = self.inner, self.outer
        loop.pairs.add(self)
        # The handshake may have left application data inside OpenSSL, which no readiness
        # event announces: read it now.
        self.pump(self.outer)
        if not self.closed:
            self.update(self.outer)
            self.update(self.inner)

    def pump(self, src):
        """Moves what ``src`` has to its peer: a recv per record or chunk, then a send."""
        dst = src.peer
        while True:
            try:
                data = src.sock.recv(CHUNK)
            except ssl.SSLWantReadError:
                src.read_wants_write = False
                return
            except ssl.SSLWantWriteError:
                src.read_wants_write = True
                return
            except (BlockingIOError, InterruptedError):
                return
            except (ssl.SSLError, OSError):
                self.close()
                return
            src.read_wants_write = False
            if not data:
                # ZMTP never half-closes: an end on one side ends the whole connection.
                self.finish(src)
                return
            self.send(dst, data)
            if self.closed:
                return
            if dst.queued >= self.loop.high_water:
                src.reading = False
                self.update(src)
                return
            # More to read now? TLS: only what OpenSSL decrypted already (the socket's own
            # readiness brings the selector back); unix: only if the chunk was filled.
            if not (src.sock.pending() if src.tls else len(data) == CHUNK):
                return

    def send(self, dst, data):
        if dst.out:
            dst.out.append(data)
            dst.queued += len(data)
            self.update(dst)
            return
        try:
            n = dst.sock.send(data)
        except _WOULD_BLOCK:
            n = 0
        except ssl.SSLWantReadError:
            n = 0
            dst.write_wants_read = True
        except (ssl.SSLError, OSError):
            self.close()
            return
        if n < len(data):
            # A TLS write refused with WANT_WRITE is retried with the same bytes, as OpenSSL
            # requires: the whole of ``data`` stays at the head of the queue.
            rest = memoryview(data)[n:]
            dst.out.append(rest)
            dst.queued += len(rest)
            self.update(dst)

    def flush(self, end):
        while end.out:
            head = end.out[0]
            try:
                n = end.sock.send(head)
            except _WOULD_BLOCK:
                break
            except ssl.SSLWantReadError:
                end.write_wants_read = True
                break
            except (ssl.SSLError, OSError):
                self.close()
                return
            end.write_wants_read = False
            end.queued -= n
            if n < len(head):
                end.out[0] = memoryview(head)[n:]
                break
            end.out.popleft()
        if self.closing:
            if not end.out:
                self.close(graceful=True)
            return
        peer = end.peer
        if not peer.reading and end.queued < self.loop.high_water:
            peer.reading = True
            # The peer may hold decrypted bytes no event will announce.
            self.pump(peer)
            if not self.closed:
                self.update(peer)
        if not self.closed:
            self.update(end)

    def finish(self, src):
        """``src`` ended: what its peer still has queued goes out first."""
        dst = src.peer
        if not dst.out:
            self.close(graceful=True)
            return
        self.closing = True
        src.reading = dst.reading = False
        self.update(src)
        self.update(dst)

    def update(self, end):
        mask = 0
        if end.reading or end.write_wants_read:
            mask |= READ
        if end.out or end.read_wants_write:
            mask |= WRITE
        if mask == end.mask:
            return
        sel = self.loop.sel
        if end.mask == 0:
            sel.register(end.sock, mask, end.event)
        elif mask == 0:
            sel.unregister(end.sock)
        else:
            sel.modify(end.sock, mask, end.event)
        end.mask = mask

    def close(self, graceful=False):
        if self.closed:
            return
        self.closed = True
        self.loop.pairs.discard(self)
        for end in (self.outer, self.inner):
            if end.mask:
                self.loop.sel.unregister(end.sock)
                end.mask = 0
            self.loop.close_socket(end.sock, graceful and end.tls)


class Loop:
    """The listeners, the handshakes in progress, the pairs; ``run`` until ``stop`` is set."""

    def __init__(self, ctx, log, handshake_timeout, max_connections, high_water):
        self.ctx = ctx
        self.log = log
        self.handshake_timeout = handshake_timeout
        self.max_connections = max_connections
        self.high_water = high_water
        self.sel = selectors.DefaultSelector()
        self.listeners = []
        self.handshakes = {}  # SSLSocket -> (deadline, unix socket path)
        self.pairs = set()
        self.timers = []  # heap of (when, sequence, callback)
        self._seq = 0
        self.stop = False

    def listen(self, host, path):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, 0))
        lsock.listen(128)
        lsock.setblocking(False)
        self.listeners.append(lsock)
        self.sel.register(lsock, READ, lambda mask: self._accept(lsock, path))
        return lsock.getsockname()[1]

    def later(self, delay, callback):
        self._seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self._seq, callback))

    def watch(self, fileobj, callback):
        self.sel.register(fileobj, READ, lambda mask: callback())

    def _accept(self, lsock, path):
        for _ in range(64):
            try:
                conn, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.log("cannot accept: %s" % e)
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment instead of spinning.
                    self.sel.unregister(lsock)
                    self.later(0.5, lambda: self._resume(lsock, path))
                return
            if len(self.handshakes) >= self.max_connections:
                self.log("refused a connection: %d handshakes open" % self.max_connections)
                conn.close()
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except (ssl.SSLError, OSError) as e:
                self.log("connection dropped: %s" % e)
                conn.close()
                continue
            self.handshakes[tls] = (time.monotonic() + self.handshake_timeout, path)
            self.sel.register(tls, READ, lambda mask, tls=tls: self._handshake(tls))

    def _resume(self, lsock, path):
        if lsock in self.listeners:
            self.sel.register(lsock, READ, lambda mask: self._accept(lsock, path))

    def _handshake(self, tls):
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self.sel.modify(tls, READ, lambda mask: self._handshake(tls))
            return
        except ssl.SSLWantWriteError:
            self.sel.modify(tls, WRITE, lambda mask: self._handshake(tls))
            return
        except (ssl.SSLError, OSError) as e:
            # A client without the session's certificate: one line, no traceback.
            self.log("connection dropped: %s" % e)
            self._drop_handshake(tls)
            return
        deadline, path = self.handshakes.pop(tls)
        self.sel.unregister(tls)
        self._connect_inner(tls, path, deadline)

    def _drop_handshake(self, tls):
        self.handshakes.pop(tls, None)
        self.sel.unregister(tls)
        tls.close()

    def _connect_inner(self, tls, path, deadline):
        if len(self.pairs) >= self.max_connections:
            self.log("refused a connection: %d open already" % self.max_connections)
            tls.close()
            return
        inner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        inner.setblocking(False)
        try:
            inner.connect(path)
        except (BlockingIOError, InterruptedError):
            # The kernel's backlog is full: try again shortly, until the handshake's deadline.
            inner.close()
            if time.monotonic() < deadline:
                self.later(0.02, lambda: self._connect_inner(tls, path, deadline))
            else:
                tls.close()
            return
        except OSError:
            # The kernel is between a restart's exit and bind: the client connects again.
            inner.close()
            self.close_socket(tls, True)
            return
        _Pair(self, tls, inner)

    def close_socket(self, sock, tls_goodbye):
        if tls_goodbye:
            try:
                sock.unwrap()  # close_notify, best effort: the peer's answer is not awaited
            except (ssl.SSLError, OSError, ValueError):
                pass
        sock.close()

    def _timeout(self, now):
        wait = 1.0
        while self.timers and self.timers[0][0] <= now:
            heapq.heappop(self.timers)[2]()
        if self.timers:
            wait = min(wait, self.timers[0][0] - now)
        if self.handshakes:
            for tls, (deadline, _path) in list(self.handshakes.items()):
                if deadline <= now:
                    self.log("connection dropped: no TLS handshake within %g s"
                             % self.handshake_timeout)
                    self._drop_handshake(tls)
                else:
                    wait = min(wait, deadline - now)
        return max(wait, 0.0)

    def run(self):
        while not self.stop:
            for key, mask in self.sel.select(self._timeout(time.monotonic())):
                key.data(mask)

    def close(self):
        for lsock in self.listeners:
            self.sel.unregister(lsock)
            lsock.close()
        self.listeners = []
        for tls in list(self.handshakes):
            self._drop_handshake(tls)
        for pair in list(self.pairs):
            pair.close(graceful=True)
