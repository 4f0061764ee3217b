"""Broker URLs of taps: which broker a URL names, the options each kind needs, and the URL as it may
be shown (password masked)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from dashboard.core.url_credentials import MASK, masked

# Masking lives in core: taps and broker consumers share it.
__all__ = ["MASK", "SCHEMES", "Address", "BadAddress", "masked", "split"]

# scheme -> (broker kind, the options that kind needs)
SCHEMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "amqp": ("amqp", ("exchange", "binding_key")),
    "amqps": ("amqp", ("exchange", "binding_key")),
    "nats": ("nats", ("subject",)),
    "tls": ("nats", ("subject",)),
    "redis": ("redis", ("stream",)),
    "rediss": ("redis", ("stream",)),
}


class BadAddress(ValueError):
    """The URL cannot name a broker a tap reads (the message says why); ``where`` the field."""

    def __init__(self, message: str, where: str = "url") -> None:
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class Address:
    kind: str  # amqp | nats | redis
    scheme: str
    host: str
    port: int | None
    username: str
    password: str
    path: str  # the vhost (AMQP) or database (Redis) part, without the leading "/"
    secure: bool


def split(url: str) -> Address:
    """The parts of ``url``; :class:`BadAddress` when it is not a broker URL a tap can read."""
    if not isinstance(url, str) or not url.strip():
        raise BadAddress("'url' is required: amqp://, nats:// or redis://.")
    if len(url) > 2048:
        raise BadAddress("'url' is longer than 2048 characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise BadAddress(f"'url' is not a valid URL: {err}.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadAddress(
            f"'url' has the scheme {scheme + '://' if scheme else '(none)'}; a tap reads amqp:// (RabbitMQ), "
            "nats:// (NATS) or redis:// (Redis Streams)."
        )
    if not parts.hostname:
        raise BadAddress("'url' names no host.")
    return Address(
        kind=SCHEMES[scheme][0],
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        path=unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path),
        secure=scheme in ("amqps", "tls", "rediss"),
    )
