"""API tokens: creation, bearer verification and SigV4 secret lookup.

A token is ``<key_id>.<secret>``. The secret is HMAC-SHA256(SECRET_KEY, key_id + salt), so only the
key id and salt are stored. The same secret is the SigV4 secret access key for AWS-style clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from dashboard.core.models import SCOPES, ApiToken

_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    key_id: str
    secret: str
    scopes: list[str]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token (``key_id``) or a logged-in user (``username``), with scopes."""

    name: str
    scopes: frozenset[str]
    key_id: str = ""


def _derive_secret(key_id: str, salt: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{key_id}:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_scopes(scopes: list[str]) -> list[str]:
    """The scopes, de-duplicated in canonical order; ``ValueError`` naming any unknown one."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; valid scopes are {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"at least one scope is needed: {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in scopes]


def create_token(name: str, scopes: list[str]) -> IssuedToken:
    scopes = check_scopes(scopes)
    key_id = "ES" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
    salt = secrets.token_hex(16)
    ApiToken.objects.create(name=name, key_id=key_id, salt=salt, scopes=scopes)
    secret = _derive_secret(key_id, salt)
    return IssuedToken(token=f"{key_id}.{secret}", key_id=key_id, secret=secret, scopes=scopes)


# key_id -> (expires_at, salt, scopes, name). A short-lived cache keeps a token lookup off the ingest
# hot path; revocation takes effect within EVENTSCOPE_TOKEN_CACHE_SECONDS.
_cache: dict[str, tuple[float, str, frozenset[str], str]] = {}
_cache_lock = threading.Lock()


def _lookup(key_id: str) -> tuple[str, frozenset[str], str] | None:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key_id)
    if hit and hit[0] > now:
        return hit[1], hit[2], hit[3]
    row = ApiToken.objects.filter(key_id=key_id, revoked_at__isnull=True).values("salt", "scopes", "name").first()
    if row is None:
        with _cache_lock:
            _cache.pop(key_id, None)
        return None
    entry = (now + settings.EVENTSCOPE_TOKEN_CACHE_SECONDS, row["salt"], frozenset(row["scopes"]), row["name"])
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key_id] = entry
    return entry[1], entry[2], entry[3]


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (HTTP or a websocket's
    handshake): None when there is no header, "" when it is not a bearer token or holds none.

    The scheme is case-insensitive and whitespace around the value is ignored; a client that sent
    some other credential gets "" (refused), never the cookie's session instead.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def verify_bearer(token: str) -> Principal | None:
    """The token's principal, or None when it is unknown, revoked or its secret does not match."""
    key_id, _, secret = token.partition(".")
    if not key_id or not secret or len(token) > 200:
        return None
    found = _lookup(key_id)
    if found is None:
        return None
    salt, scopes, name = found
    if not hmac.compare_digest(secret.encode(), _derive_secret(key_id, salt).encode()):
        return None
    return Principal(name=name, scopes=scopes, key_id=key_id)


def secret_for(key_id: str) -> str | None:
    """The SigV4 secret access key for ``key_id``, or None when there is no such live token."""
    found = _lookup(key_id)
    return None if found is None else _derive_secret(key_id, found[0])


def principal_for_key(key_id: str) -> Principal | None:
    found = _lookup(key_id)
    return None if found is None else Principal(name=found[2], scopes=found[1], key_id=key_id)


def revoke(key_id: str) -> bool:
    updated = ApiToken.objects.filter(key_id=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    clear_cache()
    return updated > 0
