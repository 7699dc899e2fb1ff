"""What ``astra web`` refuses: forged form posts (CSRF), and work started without the token.

* **CSRF.** Every session gets a random token (:func:`csrf_token`, put in each form as the
  hidden field ``csrf_token``); every ``POST`` must send it back (form field or
  ``X-CSRF-Token`` header) or is refused with 400. A request authenticated with the access
  token in an ``Authorization: Bearer`` header is not a browser's and needs no CSRF token;
  nor does a ``POST`` to ``/api/...`` with ``Content-Type: application/json`` and no foreign
  ``Origin`` (a script, such as ``curl``, on a loopback server without a token): a page of
  another site cannot send that content type without a CORS preflight, which this server
  never grants.
* **The access token.** Bound to loopback, ``astra web`` needs none (unless one is given).
  Bound to any other address it always has one (given, ``$ASTRA_WEB_TOKEN``, or generated
  and printed at start), and starting, stopping or retrying work (:func:`requires_token`)
  needs it: in a ``Bearer`` header, or entered once on ``/login`` for the session.
* **Host check.** Without a token, requests must name a loopback host (``Host:`` header), so
  a page elsewhere cannot reach this server through DNS rebinding.
"""

import functools
import hmac
import ipaddress
import secrets

from flask import abort, current_app, request, session, url_for

__all__ = ["csrf_token", "check_request", "requires_token", "is_loopback", "token_ok", "authorize"]

_LOOPBACK_NAMES = ("localhost",)


def is_loopback(host):
    """Whether ``host`` (a name or address, without port) is this machine's loopback.

    :param host: e.g. ``"127.0.0.1"``, ``"::1"``, ``"localhost"``, ``"0.0.0.0"``.
    """
    host = (host or "").strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(header):
    header = header or ""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def csrf_token():
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _same(a, b):
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def _bearer():
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def token_ok():
    """Whether this request may start or stop work (no token configured, or it is given)."""
    token = current_app.config.get("ASTRA_TOKEN")
    if not token:
        return True
    return _same(_bearer(), token) or _same(session.get("authorized"), token)


def authorize(candidate):
    """Remember in the session that ``candidate`` is the access token, if it is.

    :param candidate: the token a user typed.
    :returns: whether it was right.
    """
    token = current_app.config.get("ASTRA_TOKEN")
    if token and _same(candidate, token):
        session["authorized"] = token
        return True
    return False


def check_request():
    """``before_request``: the host check, and the CSRF check of every ``POST``."""
    if not current_app.config.get("ASTRA_TOKEN") and not is_loopback(_host_of(request.host)):
        abort(403, description=f"requests must be made to a loopback address, not {request.host!r} "
                               "(start astra web with --token to serve other hosts)")
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    token = current_app.config.get("ASTRA_TOKEN")
    bearer = _bearer()
    if token and bearer is not None:
        if _same(bearer, token):
            return
        abort(403, description="wrong access token")
    if request.path.startswith("/api/") and request.mimetype == "application/json" and _same_origin():
        return  # a script's JSON call (see the module's docstring); the token, if set, is checked by the view
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not _same(sent, session.get("csrf")):
        abort(400, description="the form's CSRF token is missing or wrong: reload the page and try again")


def _same_origin():
    """Whether the request's ``Origin`` header is absent or names this server."""
    origin = request.headers.get("Origin")
    if not origin:
        return True
    from urllib.parse import urlsplit

    return urlsplit(origin).netloc.lower() == request.host.lower()


def requires_token(view):
    """Decorate a view that starts, stops or retries work: it needs the access token."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not token_ok():
            abort(403, description="starting, stopping or retrying work needs the access token: enter it "
                                   f"at {url_for('runs.login')} or send Authorization: Bearer <token>")
        return view(*args, **kwargs)

    return wrapped
