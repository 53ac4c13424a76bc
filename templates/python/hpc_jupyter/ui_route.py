"""The ``<base_url>hpc-jupyter-ui/<link>/`` route of a Jupyter server: a session's web UI for a
sandboxed frame.

The JupyterLab panel that shows a Dask dashboard or a Spark UI is a frame without
``allow-same-origin``: its document has an opaque origin, so the UI's scripts can never reach
JupyterLab's origin, its cookies or its API. Such a frame also sends none of JupyterLab's cookies
with its own requests, so Jupyter's authentication cannot admit them; this route admits them by a
capability link instead. The sidebar asks the agent (an authenticated API call) for a link to one
endpoint of one session; the agent makes 256 random bits, keeps them in memory, and ends them when
the tab closes, the session ends or they go unused (see the agent's ``ui-links.ts``). This server
extension (enabled by ``jupyter_server_config.d/hpc_jupyter.json``) then

- takes no cookie and no Jupyter login: the link in the path is the only credential, and it
  grants that one UI only; the agent checks it (a wrong, expired or revoked link gets 404);
- reaches the current user's agent on its unix socket, resolved and checked exactly as the
  ``hpc-jupyter`` route does (:class:`hpc_jupyter.serverproxy.Relay`: the directory ours and
  0700, no symlink, the socket ours), and never starts an agent (a link lives only in a running
  one);
- forwards HTTP and WebSockets (the Dask dashboard's Bokeh socket) to the agent's ``/ui/<link>/``
  with only the request headers a UI needs: no Cookie, Authorization, Origin, Referer or
  ``Sec-Fetch-*``; the agent adds the job's web UI token;
- accepts a request with no Origin, with ``Origin: null`` (the sandboxed frame) or with the
  server's own origin, and refuses every other origin; answers CORS for ``null`` without
  credentials, so the frame's own fetches work and nothing else changes;
- answers with ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, and drops every
  ``Set-Cookie`` a UI sends;
- never writes the link down: its request log and error lines name the path with the link
  replaced by ``(link)``.
"""

import json
import logging
import re
import socket
import urllib.parse

from tornado import httpclient, ioloop, netutil, simple_httpclient, websocket
from tornado.httputil import HTTPHeaders

from . import agent as _agent
from . import serverproxy as _serverproxy

try:
    from jupyter_server.auth.decorator import allow_unauthenticated
except ImportError:  # jupyter_server < 2.13 has no such check

    def allow_unauthenticated(method):
        return method


__all__ = ["UiHandler"]

_log = logging.getLogger("ServerApp")

ROUTE = "hpc-jupyter-ui"
# 32 random bytes in base64url, as the agent makes them.
LINK = re.compile(r"^[A-Za-z0-9_-]{43}$")
# The request headers a UI's pages, scripts and fetches need; nothing that identifies the user.
_FORWARDED_REQUEST_HEADERS = (
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Content-Type",
    "Range",
    "User-Agent",
    "X-Requested-With",
)
# Response headers that are this hop's, or that the route sets itself.
_DROPPED_RESPONSE_HEADERS = {
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-max-age",
    "cache-control",
    "connection",
    "content-length",
    "expires",
    "keep-alive",
    "pragma",
    "proxy-authenticate",
    "referrer-policy",
    "set-cookie",
    "set-cookie2",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_REPLACED_RESPONSE_HEADERS = {"content-type", "date", "server"}
_TOKEN_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")
# A UI's messages (a Bokeh document) and bodies can be large; these bound them.
_MAX_MESSAGE = 64 * 1024 * 1024
_MAX_BODY = 256 * 1024 * 1024
_AGENT_HOST = "hpc-jupyter-agent"


class _UnixResolver(netutil.Resolver):
    """Resolves every host to the agent's unix socket."""

    def initialize(self, path):
        self.path = path

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        return [(socket.AF_UNIX, self.path)]


def _redacted(path):
    return re.sub(r"(%s/)[^/?#]*" % ROUTE, r"\1(link)", path.split("?", 1)[0])


class UiHandler(websocket.WebSocketHandler):
    """HTTP and WebSocket requests under ``<base_url>hpc-jupyter-ui/<link>/``."""

    def initialize(self, base_url):
        self._base_url = base_url
        self._upstream = None
        self._subprotocol = None

    # -- no Jupyter authentication, no cookies: the link is the credential -----------------------

    def check_xsrf_cookie(self):
        """No cookie admits anything here, so there is no cross-site forgery to stop."""

    def get_current_user(self):
        return None

    def set_default_headers(self):
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def _request_summary(self):
        request = self.request
        return "%s %s (%s)" % (request.method, _redacted(request.path), request.remote_ip)

    def _log(self):
        status = self.get_status()
        level = logging.WARNING if status >= 400 else logging.DEBUG
        took = 1000.0 * self.request.request_time()
        _log.log(level, "%d %s %.2fms", status, self._request_summary(), took)

    def write_error(self, status_code, **kwargs):
        self._send_json_error(status_code, self._reason, "Open the UI again from the HPC sidebar.")

    def _send_json_error(self, status, message, hint, kind="UiRouteRefused"):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"message": message, "hint": hint, "kind": kind}}))

    # -- who may ask ----------------------------------------------------------------------------

    def _origin_allowed(self, origin):
        if origin is None or origin == "null":
            return True
        host = self.request.headers.get("Host", "")
        return origin.split("://", 1)[-1].lower() == host.lower()

    def check_origin(self, origin):
        return self._origin_allowed(origin)

    def _refusal(self, link):
        """The (status, message, hint) to answer, or None when the request may go on."""
        origin = self.request.headers.get("Origin")
        if not self._origin_allowed(origin):
            return (
                403,
                "Refused a request from the origin %s: a UI link serves only its own frame."
                % json.dumps(origin[:200]),
                "Open the UI from the HPC sidebar.",
            )
        if not LINK.match(link) or self._raw_rest(link) is None:
            return (404, "No web UI at this link.", "Open the UI again from the HPC sidebar.")
        segments = urllib.parse.unquote(self._raw_rest(link)).split("/")
        if "." in segments or ".." in segments:
            return (
                400,
                "Refused a path with . or .. segments: a UI link serves only its own UI's paths.",
                "Browsers resolve such segments before they send a request.",
            )
        return None

    def _raw_rest(self, link):
        """The path after the link as the browser sent it (still percent-encoded), or None."""
        prefix = "%s%s/%s" % (self._base_url, ROUTE, link)
        raw = self.request.path
        if raw != prefix and not raw.startswith(prefix + "/"):
            return None
        return raw[len(prefix) :]

    def _agent_socket(self):
        """The checked agent socket, or raises Refused (or AgentError when none answers)."""
        relay = _serverproxy.Relay()
        if not relay.check():
            raise _agent.AgentError(
                "The hpc-jupyter agent is not running, so no UI link is live.",
                hint="Open the UI again from the HPC sidebar (it starts the agent).",
                kind="AgentUnreachable",
            )
        return relay.socket

    def _upstream_url(self, link, path, scheme="http"):
        # The raw path, not tornado's decoded `path`: %2F or %3F must reach the UI as they came.
        rest = self._raw_rest(link) or "/"
        query = "?" + self.request.query if self.request.query else ""
        return "%s://%s/ui/%s%s%s" % (scheme, _AGENT_HOST, link, rest, query)

    def _upstream_headers(self, link, names=_FORWARDED_REQUEST_HEADERS):
        headers = HTTPHeaders()
        for name in names:
            value = self.request.headers.get(name)
            if value is not None:
                headers[name] = value
        # The browser's host, so that a UI that writes absolute links writes this server's.
        headers["Host"] = self.request.headers.get("Host", _AGENT_HOST)
        headers["X-Forwarded-Context"] = "%s%s/%s" % (self._base_url, ROUTE, link)
        headers["X-Forwarded-Proto"] = self.request.protocol
        return headers

    # -- HTTP -----------------------------------------------------------------------------------

    @allow_unauthenticated
    async def get(self, link, path):
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            await self._open_websocket(link, path)
            return
        await self._proxy(link, path)

    @allow_unauthenticated
    async def head(self, link, path):
        await self._proxy(link, path)

    @allow_unauthenticated
    async def post(self, link, path):
        await self._proxy(link, path)

    @allow_unauthenticated
    async def put(self, link, path):
        await self._proxy(link, path)

    @allow_unauthenticated
    async def patch(self, link, path):
        await self._proxy(link, path)

    @allow_unauthenticated
    async def delete(self, link, path):
        await self._proxy(link, path)

    @allow_unauthenticated
    async def options(self, link, path):
        refused = self._refusal(link)
        if refused is not None:
            self._send_json_error(*refused)
            return
        if "Access-Control-Request-Method" not in self.request.headers:
            await self._proxy(link, path)
            return
        # A preflight from the frame (Origin: null): its own fetches may go on, without credentials.
        self.set_status(204)
        self.set_header("Access-Control-Allow-Origin", "null")
        self.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
        wanted = self.request.headers.get("Access-Control-Request-Headers", "")
        if _TOKEN_LIST.match(wanted.strip()):
            self.set_header("Access-Control-Allow-Headers", wanted.strip())
        self.set_header("Access-Control-Max-Age", "600")
        self.finish()

    async def _proxy(self, link, path):
        refused = self._refusal(link)
        if refused is not None:
            self._send_json_error(*refused)
            return
        try:
            socket_path = self._agent_socket()
        except (_serverproxy.Refused, _agent.AgentError) as e:
            self._send_json_error(503, e.message, e.hint or "", "AgentRefused")
            return
        method = self.request.method
        body = self.request.body
        if not body and method not in ("POST", "PUT", "PATCH"):
            body = None
        client = simple_httpclient.SimpleAsyncHTTPClient(
            force_instance=True, resolver=_UnixResolver(path=socket_path), max_body_size=_MAX_BODY
        )
        try:
            response = await client.fetch(
                httpclient.HTTPRequest(
                    self._upstream_url(link, path),
                    method=method,
                    headers=self._upstream_headers(link),
                    body=body,
                    follow_redirects=False,
                    decompress_response=False,
                    allow_nonstandard_methods=True,
                    connect_timeout=10,
                    request_timeout=300,
                ),
                raise_error=False,
            )
        finally:
            client.close()
        if response.code == 599:
            self._send_json_error(
                502,
                "The hpc-jupyter agent did not answer: %s" % (response.error or "no answer"),
                "Check that the agent is running (`hpc-jupyter agent status`).",
                "AgentUnreachable",
            )
            return
        self.set_status(response.code, response.reason or "Unknown")
        for name, value in response.headers.get_all():
            lower = name.lower()
            if lower in _DROPPED_RESPONSE_HEADERS:
                continue
            if lower in _REPLACED_RESPONSE_HEADERS:
                self.set_header(name, value)
            else:
                self.add_header(name, value)
        if self.request.headers.get("Origin") == "null":
            self.set_header("Access-Control-Allow-Origin", "null")
        if response.code not in (204, 304) and method != "HEAD" and response.body:
            self.write(response.body)
        self.finish()

    # -- WebSocket ------------------------------------------------------------------------------

    @property
    def max_message_size(self):
        return _MAX_MESSAGE

    async def _open_websocket(self, link, path):
        refused = self._refusal(link)
        if refused is not None:
            self._send_json_error(*refused)
            return
        try:
            socket_path = self._agent_socket()
        except (_serverproxy.Refused, _agent.AgentError) as e:
            self._send_json_error(503, e.message, e.hint or "", "AgentRefused")
            return
        offered = self.request.headers.get("Sec-WebSocket-Protocol", "")
        subprotocols = [p.strip() for p in offered.split(",") if p.strip()] or None
        request = httpclient.HTTPRequest(
            self._upstream_url(link, path, scheme="ws"),
            headers=self._upstream_headers(link, names=("Accept-Language", "User-Agent")),
            connect_timeout=10,
            request_timeout=30,
        )
        try:
            self._upstream = await websocket.websocket_connect(
                request,
                subprotocols=subprotocols,
                resolver=_UnixResolver(path=socket_path),
                max_message_size=_MAX_MESSAGE,
            )
        except httpclient.HTTPClientError as e:
            code = e.code if 400 <= e.code < 600 and e.code != 599 else 502
            message = "The web UI refused the WebSocket (%d)." % e.code
            if e.code == 404:
                message = "No web UI at this link: it is unknown, expired or revoked."
            self._send_json_error(code, message, "Open the UI again from the HPC sidebar.")
            return
        except (OSError, websocket.WebSocketError) as e:
            message = "The hpc-jupyter agent did not answer: %s" % e
            self._send_json_error(502, message, "", "AgentUnreachable")
            return
        self._subprotocol = self._upstream.selected_subprotocol
        await websocket.WebSocketHandler.get(self, link, path)
        if self.ws_connection is None:
            # The browser's side of the handshake failed: nothing will read the upstream.
            self._upstream.close()

    def select_subprotocol(self, subprotocols):
        return self._subprotocol

    def open(self, link, path):
        ioloop.IOLoop.current().add_callback(self._pump_upstream)

    async def _pump_upstream(self):
        upstream = self._upstream
        while upstream is not None:
            message = await upstream.read_message()
            if message is None:
                self.close(*_close_args(upstream.close_code, upstream.close_reason))
                return
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                upstream.close()
                return

    async def on_message(self, message):
        if self._upstream is None:
            return
        try:
            await self._upstream.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            self.close()

    def on_close(self):
        if self._upstream is not None:
            self._upstream.close(*_close_args(self.close_code, self.close_reason))


def _close_args(code, reason):
    """A peer's close code and reason to pass on: none for codes no endpoint may send."""
    if code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        return (code, reason)
    return ()


def _jupyter_server_extension_points():
    return [{"module": "hpc_jupyter.ui_route"}]


def _load_jupyter_server_extension(serverapp):
    web_app = serverapp.web_app
    base_url = web_app.settings.get("base_url", "/")
    if not base_url.endswith("/"):
        base_url += "/"
    pattern = r"%s%s/([^/?#]*)(/.*)?" % (re.escape(base_url), ROUTE)
    web_app.add_handlers(".*$", [(pattern, UiHandler, {"base_url": base_url})])
    serverapp.log.info("hpc-jupyter: web UI links served at %s%s/", base_url, ROUTE)


# The name older Jupyter servers look for.
load_jupyter_server_extension = _load_jupyter_server_extension
