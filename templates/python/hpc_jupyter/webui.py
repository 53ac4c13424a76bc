"""The key that guards a job's web UIs (the Dask dashboard, the Spark master, worker and
application UIs), and the signed tokens that show it.

Usage (from the job templates):
  python -m hpc_jupyter.webui key SESSION_DIR     (makes SESSION_DIR/webui.key once, 0600)

Every request to one of those UIs must carry ``Authorization: Bearer <JWS>``: a compact JWS,
HS256 over the job's key, with an expiry (``exp``). Spark checks it with its own
org.apache.spark.ui.JWSFilter (the key goes into the 0600 properties file as the filter's
``secretKey``); the Dask scheduler checks it with :func:`verify`, through the guard that
:mod:`hpc_jupyter.dask_engine` puts in front of the dashboard. The agent on the user's machine
reads the key from the session directory and adds the header when its proxy forwards to a UI,
so a browser never sees the key, and a token caught on the way is worthless after a few minutes.
The key is 32 random bytes, base64url without padding: what JWSFilter decodes, and enough for
HS256 (jjwt refuses keys under 256 bits). It never goes into argv, job names or logs.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time

from .files import write_private

KEY_FILE = "webui.key"
# What connection.json says of the endpoints that need the token ("ui_auth"), never the key.
SCHEME = "jws-hs256"
TOKEN_SECONDS = 300
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_key(session_dir):
    """Makes the job's web UI key (once: a restarted step keeps the first) and returns it."""
    path = os.path.join(session_dir, KEY_FILE)
    if not os.path.exists(path):
        write_private(path, _b64url(secrets.token_bytes(32)) + "\n")
    return read_key(session_dir)


def read_key(session_dir):
    """The key as base64url text (the form Spark's filter takes)."""
    with open(os.path.join(session_dir, KEY_FILE)) as f:
        return f.read().strip()


def sign(key_text, seconds=TOKEN_SECONDS, now=None):
    """A compact JWS (HS256) over ``key_text`` that expires ``seconds`` from now."""
    issued = int(time.time() if now is None else now)
    header = _b64url(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64url(json.dumps({"iat": issued, "exp": issued + seconds}).encode())
    signing_input = ("%s.%s" % (header, payload)).encode("ascii")
    mac = hmac.new(_unb64url(key_text), signing_input, hashlib.sha256).digest()
    return "%s.%s.%s" % (header, payload, _b64url(mac))


def verify(key_text, authorization, now=None):
    """Whether an Authorization header value is ``Bearer <JWS>`` signed with the key, HS256, and
    not expired. Anything else (no header, another scheme or algorithm, a bad signature, no or a
    past ``exp``) is False."""
    if not isinstance(authorization, str) or not authorization.startswith("Bearer "):
        return False
    parts = authorization[len("Bearer ") :].strip().split(".")
    if len(parts) != 3:
        return False
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
        given = _unb64url(parts[2])
    except (ValueError, TypeError):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return False
    signing_input = ("%s.%s" % (parts[0], parts[1])).encode("ascii")
    expected = hmac.new(_unb64url(key_text), signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        return False
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return False
    return exp > (time.time() if now is None else now)


def authorization(session_dir):
    """The header value a client in the job sends to the job's UIs (the start-up wait does)."""
    return "Bearer " + sign(read_key(session_dir))


def main(argv):
    if len(argv) == 2 and argv[0] == "key":
        make_key(argv[1])
    else:
        sys.exit("usage: python -m hpc_jupyter.webui key SESSION_DIR")


if __name__ == "__main__":
    main(sys.argv[1:])
