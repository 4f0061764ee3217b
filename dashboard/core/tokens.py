"""API tokens: creation, bearer verification, SigV4 secret lookup, listing and revocation.

A token is ``<key_id>.<secret>``. The secret is HMAC-SHA256(SECRET_KEY, key_id + salt), so only the
key id and salt are stored. The same secret is the SigV4 secret access key for AWS-style clients.

Verified tokens are cached in each process for ``EVENTSCOPE_TOKEN_CACHE_SECONDS``, so ingest does
not query them per request. A revocation still holds from the token's next request, whichever
process revoked it: every process hears of it (``dashboard.core.revocations``) and empties its cache.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from dashboard.core import revocations
from dashboard.core.models import SCOPES, ApiToken

logger = logging.getLogger(__name__)

_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# ``last_used_at`` is written when it is older than this: at most once a minute per token and process.
LAST_USED_PRECISION = timedelta(minutes=1)


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
# hot path; entries made under another revocation stamp than the current one are dropped
# (dashboard.core.revocations).
_cache: dict[str, tuple[float, str, frozenset[str], str]] = {}
_cache_lock = threading.Lock()
# The revocation stamp the cache's entries were made under.
_cache_stamp: Hashable | None = None


def _lookup(key_id: str) -> tuple[str, frozenset[str], str] | None:
    global _cache_stamp
    now = time.monotonic()
    stamp = revocations.stamp()
    with _cache_lock:
        if stamp != _cache_stamp:
            _cache.clear()
            _cache_stamp = stamp
        hit = _cache.get(key_id)
    if hit and hit[0] > now:
        return hit[1], hit[2], hit[3]
    row = (
        ApiToken.objects.filter(key_id=key_id, revoked_at__isnull=True)
        .values("salt", "scopes", "name", "last_used_at")
        .first()
    )
    if row is None:
        with _cache_lock:
            _cache.pop(key_id, None)
        return None
    _note_use(key_id, row["last_used_at"])
    entry = (now + settings.EVENTSCOPE_TOKEN_CACHE_SECONDS, row["salt"], frozenset(row["scopes"]), row["name"])
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        if _cache_stamp == stamp:  # not if a revocation came while the row was read
            _cache[key_id] = entry
    return entry[1], entry[2], entry[3]


def _note_use(key_id: str, last_used_at: datetime | None) -> None:
    """Record that the token was used, when what is recorded is older than LAST_USED_PRECISION.
    Called when the cache misses, so a busy token writes at most once a minute per process."""
    now = timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_PRECISION:
        return
    try:
        ApiToken.objects.filter(key_id=key_id).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
    except Exception as err:  # bookkeeping: the request it belongs to goes on
        logger.info("tokens: could not record the use of %s: %s", key_id, err)


def clear_cache() -> None:
    global _cache_stamp
    with _cache_lock:
        _cache.clear()
        _cache_stamp = None


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
    """Revoke the live token ``key_id``: refused (401) from its next request, in every process
    (``dashboard.core.revocations``). False when there is no such live token. Call it outside a
    transaction: the others must hear of it after the commit."""
    updated = ApiToken.objects.filter(key_id=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        revocations.announce()
    clear_cache()
    return updated > 0


def live_tokens() -> list[ApiToken]:
    """The tokens not revoked, newest first."""
    return list(ApiToken.objects.filter(revoked_at__isnull=True).order_by("-created_at", "-id"))


def find_live(name_or_key_id: str) -> list[ApiToken]:
    """The live token with this key id, else the live tokens with this name (perhaps several)."""
    by_key = list(ApiToken.objects.filter(key_id=name_or_key_id, revoked_at__isnull=True))
    if by_key:
        return by_key
    return list(ApiToken.objects.filter(name=name_or_key_id, revoked_at__isnull=True).order_by("-created_at", "-id"))


def reissue(key_id: str) -> str | None:
    """The bearer token of the live token ``key_id`` (derived again from ``SECRET_KEY``: nothing is
    stored), for a tool of this checkout that made it earlier; None when it is gone or revoked."""
    secret = secret_for(key_id)
    return None if secret is None else f"{key_id}.{secret}"
