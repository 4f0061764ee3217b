"""Which pages may open a websocket with the session cookie.

A browser sends the session cookie with a websocket handshake whichever page opened it, and
``SameSite=Lax`` is no help against another port of the same host (a "site" has no port). So the
cookie of a handshake counts only when its ``Origin`` is a page origin this server serves, compared
as scheme + host + port:

- **The handshake's own origin**: ``Origin`` is the scheme of the connection (``wss`` → ``https``)
  with the handshake's ``Host`` header, and that host is one that ``ALLOWED_HOSTS`` lets in (as
  Django's CSRF check accepts a form POST from its own origin).
- **Another name of this server**: a host of ``ALLOWED_HOSTS`` (not ``*``) on the port the browser
  connected to. That port is the ``Host`` header's, not the server's own (the ASGI ``server``
  tuple): behind a proxy the server listens on an internal port no page is served from, while the
  ``Host`` header carries the port the browser used (Django's CSRF check relies on it too). The
  server's own port stands in only for a handshake without ``Host``.
- **``CSRF_TRUSTED_ORIGINS``**, full origins as Django takes them (``https://*.example.com`` for
  subdomains): how a deployment behind a TLS-terminating proxy names its public ``https`` origin,
  which it needs for its login form anyway.

A handshake from any other origin, or with none, is passed on **without its cookie**: the
consumer sees nobody logged in and closes the socket with 4401, as it does every unauthenticated
socket. A bearer token is judged by itself (a browser cannot put an ``Authorization`` header on a
websocket handshake, and scripts usually send no ``Origin``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}

# (scheme, host as split_domain_port gives it: lowercased, IPv6 in brackets, port)
Origin = tuple[str, str, int]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin1").strip()
    return None


def _parse_origin(value: str) -> tuple[Origin, str] | None:
    """``(origin, netloc)`` of an ``Origin`` header; None for ``null`` or anything malformed."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or "@" in parts.netloc:
        return None
    host, port = split_domain_port(parts.netloc)
    if not host:
        return None
    return (parts.scheme, host, int(port) if port else _DEFAULT_PORTS[parts.scheme]), parts.netloc.lower()


def _connection_scheme(scope: dict[str, Any]) -> str:
    """``http`` or ``https``: the scheme of the page origin that matches this connection."""
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:
        # As Django reads it for requests: ("HTTP_X_FORWARDED_PROTO", "https").
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, header)
        if value is not None:
            return "https" if value.split(",")[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") == "wss" else "http"


def _page_port(scope: dict[str, Any], scheme: str, host_header: str | None) -> int | None:
    """The port the browser connected to; None when it cannot be known (a malformed ``Host``)."""
    if host_header is not None:
        domain, port = split_domain_port(host_header)
        if not domain:
            return None
        return int(port) if port else _DEFAULT_PORTS[scheme]
    server = scope.get("server")
    if server and len(server) > 1 and isinstance(server[1], int):
        return server[1]
    return None


def _trusted(origin: Origin, netloc: str) -> bool:
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in entry:
            # Django's own reading of "https://*.example.com": same scheme, and the Origin's netloc
            # (port included) is that domain or a subdomain of it.
            parts = urlsplit(entry.lower())
            if parts.scheme == origin[0] and is_same_domain(netloc, parts.netloc.lstrip("*")):
                return True
        else:
            trusted = _parse_origin(entry)
            if trusted is not None and trusted[0] == origin:
                return True
    return False


def is_page_origin(scope: dict[str, Any]) -> bool:
    """Whether the handshake's ``Origin`` is a page origin this server serves (see the module)."""
    raw = _header(scope, b"origin")
    parsed = _parse_origin(raw) if raw else None
    if parsed is None:
        return False
    origin, netloc = parsed
    scheme, host, port = origin
    if _trusted(origin, netloc):
        return True
    if scheme != _connection_scheme(scope):
        return False
    host_header = _header(scope, b"host")
    if port != _page_port(scope, scheme, host_header):
        return False
    if host_header is not None and split_domain_port(host_header)[0] == host:
        return validate_host(host, settings.ALLOWED_HOSTS)  # the handshake's own origin
    return validate_host(host, [allowed for allowed in settings.ALLOWED_HOSTS if allowed != "*"])


class BrowserOriginValidator:
    """ASGI middleware for websockets: a handshake whose ``Origin`` is not one of our page origins
    goes on without its ``Cookie`` header, so no session can authenticate it."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if not is_page_origin(scope):
            headers = [(name, value) for name, value in scope.get("headers", ()) if name != b"cookie"]
            if len(headers) != len(scope.get("headers", ())):
                logger.info("live: the cookie of a websocket from origin %r is ignored", _header(scope, b"origin"))
                scope = {**scope, "headers": headers}
        return await self.application(scope, receive, send)
