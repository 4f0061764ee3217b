"""Passwords in broker URLs (taps, broker consumers): shown back only masked, and a masked URL sent
back by a form keeps the stored password.

A broker URL's ``user:password@`` is the broker's login, stored as given. The API and the pages show
it as ``user:***@host``; an edit form then holds that masked URL, and a change sent from it (a new
path, the same URL) must not turn the password into ``***``. :func:`unmask` puts the stored password
back, but only when the URL still points where the password was meant to go: the same scheme, user,
host and port. Otherwise a masked URL with a new host would carry the stored password to it, and
anyone allowed to edit could read the password without ever seeing it.

Pure: no Django.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

MASK = "***"


class MaskedPasswordError(ValueError):
    """A URL carries the masked password ``***`` where no stored password can take its place."""


def masked(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: what the API and the pages show."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            if not _token_login(parts):
                return url
            netloc = f"{MASK}@{_host_part(parts)}"
        else:
            netloc = _netloc(parts, MASK)
    except ValueError:
        return MASK
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# NATS takes a token as the URL's whole login (``nats://TOKEN@host``): a secret in the user's place.
_TOKEN_SCHEMES = frozenset({"nats", "tls"})


def _token_login(parts: SplitResult) -> bool:
    return parts.scheme.lower() in _TOKEN_SCHEMES and bool(parts.username) and parts.password is None


def _host_part(parts: SplitResult) -> str:
    return parts.netloc.rpartition("@")[2]


def _netloc(parts: SplitResult, password: str) -> str:
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return f"{user}:{password}@{host}"


def _where(parts: SplitResult) -> tuple[str, str | None, str | None, int | None]:
    return parts.scheme.lower(), parts.username, (parts.hostname or "").lower().rstrip("."), parts.port


def unmask(url: str, stored: str) -> str:
    """``url``, with the masked password ``***`` replaced by ``stored``'s password.

    A URL whose password is anything else (or that has none) is returned as it is: a real new
    password replaces the stored one, and leaving it out drops it. :class:`MaskedPasswordError`
    when ``url`` has ``***`` but ``stored`` has no password, or names another scheme, user, host or
    port than ``stored`` (see the module docstring). A password that really is three asterisks is
    written percent-encoded (``%2A%2A%2A``) and is then not the mask. A URL that does not parse is
    returned as it is: the URL checks that follow say what is wrong with it.
    """
    try:
        parts = urlsplit(url)
        token = _token_login(parts) and parts.username == MASK
        old_parts = urlsplit(stored) if token else None
    except ValueError:
        return url
    if old_parts is not None:  # raises outside the try: MaskedPasswordError is a ValueError too
        return _unmask_token(parts, old_parts)
    try:
        if parts.password != MASK:
            return url
        old = urlsplit(stored)
        same_place = _where(parts) == _where(old)
    except ValueError:
        return url
    if old.password is None:
        raise MaskedPasswordError("the URL has the masked password *** but none is stored: give the password")
    if not same_place:
        raise MaskedPasswordError(
            "the masked password *** is kept only for the same scheme, user, host and port: give the password "
            "again to use it elsewhere"
        )
    netloc = _netloc(parts, old.password)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _unmask_token(parts: SplitResult, old: SplitResult) -> str:
    """``nats://***@host`` with the stored token back, for the same scheme, host and port only."""
    if not _token_login(old):
        raise MaskedPasswordError("the URL has the masked token *** but none is stored: give the token")
    scheme, _, host, port = _where(parts)
    old_scheme, _, old_host, old_port = _where(old)
    if (scheme, host, port) != (old_scheme, old_host, old_port):
        raise MaskedPasswordError("the masked token *** is kept only for the same scheme, host and port: give it again")
    netloc = f"{old.netloc.rpartition('@')[0]}@{_host_part(parts)}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def secrets_in(url: str) -> list[str]:
    """Every spelling in which a message may quote ``url``'s password (or NATS token), longest first:
    as written, decoded, and quoted again. For a URL too malformed to parse, whose parser's complaint
    may quote a piece of it, what follows the user name and its longer pieces."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a password the URL does not quote)
        raw = parts.password if parts.password is not None else (parts.username if _token_login(parts) else "")
        secret = unquote(raw or "")
        found = {raw or "", secret, quote(secret, safe=""), quote(secret)}
    except ValueError:
        raw = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
        found = {raw, unquote(raw), *(piece for piece in re.split(r"[^A-Za-z0-9]+", raw) if len(piece) >= 4)}
    return sorted((spelling for spelling in found if spelling), key=len, reverse=True)


def scrubbed(text: str, url: str, secrets: list[str] | None = None) -> str:
    """``text`` with every spelling of ``url``'s password (``secrets_in``, or ``secrets`` computed
    before) masked: what an error a broker or its client wrote may say."""
    for secret in secrets if secrets is not None else secrets_in(url):
        text = text.replace(secret, MASK)
    return text
