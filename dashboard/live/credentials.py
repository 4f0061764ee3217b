"""Who a websocket is, and closing it once that no longer holds.

A socket is authenticated at its handshake (``authenticate``), but stays open for hours. What let
it in can be withdrawn meanwhile: a token revoked (``dashboard.core.tokens.revoke``, ``revoked_at`` set
or the row deleted by hand) or its ``read`` scope taken away; a session ended by logging out, or
expired; a user deactivated. Each server process (each event loop) has one ``CredentialWatch``
that every ``CHECK_SECONDS`` asks the database, in one query for all its token sockets (and two
for all its cookie sockets: sessions, users), which of their credentials still hold, and closes
the sockets of the others with 4401. Its cost is one small indexed query per check per process,
however many sockets are open and whichever process revoked the token; it runs only while there
are sockets to watch (the first one starts it).

Not watched: a user's password change ends that user's other sessions only at their next page
request (Django checks the session's hash then); their sockets stay open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from dashboard.core.models import ApiToken
from dashboard.core.tokens import bearer_token, verify_bearer

logger = logging.getLogger(__name__)

# How often each process checks its sockets' credentials: a revoked token's sockets close within
# this plus one query.
CHECK_SECONDS = 0.5
# Key ids (session keys, user ids) per query: far below any database's limit on parameters.
_CHUNK = 500
# Session engines whose sessions are rows of django_session (a logout deletes the row).
_DATABASE_SESSIONS = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


@dataclass(frozen=True, slots=True)
class Credential:
    """What authenticated a socket: a token's key id, or a logged-in session and its user."""

    key_id: str = ""
    session_key: str = ""
    user_id: Any = None


def _authorization(scope: dict[str, Any]) -> str | None:
    """The handshake's (first) Authorization header, or None."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return str(value.decode("latin1"))
    return None


@database_sync_to_async
def _token_credential(token: str) -> Credential | None:
    principal = verify_bearer(token) if token else None
    if principal is None or "read" not in principal.scopes:
        return None
    return Credential(key_id=principal.key_id)


async def authenticate(scope: dict[str, Any]) -> Credential | None:
    """The handshake's credential when it may read: a bearer token with ``read`` (then the cookie
    is not looked at), or a logged-in session (its Origin was checked by
    ``dashboard.live.origin``). None: refuse it."""
    token = bearer_token(_authorization(scope))
    if token is not None:
        return await _token_credential(token)
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    session = scope.get("session")
    return Credential(session_key=(session.session_key if session is not None else None) or "", user_id=user.pk)


def _chunks(values: Collection[Any]) -> Iterator[list[Any]]:
    ordered = sorted(values, key=str)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def withdrawn(credentials: Collection[Credential]) -> set[Credential]:
    """Which of ``credentials`` no longer authenticate. One query for the tokens (per 500 of them),
    one for the sessions and one for the users, whatever the number of sockets behind them."""
    gone: set[Credential] = set()
    key_ids = {c.key_id for c in credentials if c.key_id}
    if key_ids:
        readable: set[str] = set()
        for chunk in _chunks(key_ids):
            rows = ApiToken.objects.filter(key_id__in=chunk, revoked_at__isnull=True).values_list("key_id", "scopes")
            readable.update(key_id for key_id, scopes in rows if "read" in scopes)
        gone.update(c for c in credentials if c.key_id and c.key_id not in readable)
    logged_in = [c for c in credentials if not c.key_id]
    if logged_in:
        open_sessions: set[str] | None = None  # None: this session engine cannot be asked
        if settings.SESSION_ENGINE in _DATABASE_SESSIONS:
            open_sessions = set()
            now = timezone.now()
            for chunk in _chunks({c.session_key for c in logged_in}):
                open_sessions.update(
                    Session.objects.filter(session_key__in=chunk, expire_date__gt=now).values_list(
                        "session_key", flat=True
                    )
                )
        active: set[Any] = set()
        for chunk in _chunks({c.user_id for c in logged_in}):
            active.update(get_user_model().objects.filter(pk__in=chunk, is_active=True).values_list("pk", flat=True))
        gone.update(
            c
            for c in logged_in
            if c.user_id not in active or (open_sessions is not None and c.session_key not in open_sessions)
        )
    return gone


# Off the process-wide thread that consumers' database calls share: a slow check stalls no handshake.
_withdrawn = database_sync_to_async(withdrawn, thread_sensitive=False)

Withdraw = Callable[[], Coroutine[Any, Any, None]]


class CredentialWatch:
    """The sockets of one event loop and what authenticated them; closes those withdrawn."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[object, tuple[Credential, Withdraw]] = {}
        self.checks = 0  # for tests and benchmarks
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def watch(self, credential: Credential, withdraw: Withdraw) -> object:
        """Call ``withdraw`` (once) when ``credential`` stops holding; the handle for ``forget``."""
        handle = object()
        self.sockets[handle] = (credential, withdraw)
        if self._task is None:
            self._task = self.loop.create_task(self._run())
        return handle

    def forget(self, handle: object) -> None:
        self.sockets.pop(handle, None)

    async def _run(self) -> None:
        try:
            while self.sockets:
                await asyncio.sleep(CHECK_SECONDS)
                await self.check()
        finally:
            self._task = None

    async def check(self) -> None:
        """Close the sockets whose credential was withdrawn."""
        watched = list(self.sockets.items())
        if not watched:
            return
        try:
            gone = await _withdrawn({credential for credential, _ in self.sockets.values()})
        except Exception as err:  # the database is unreachable: keep the sockets, say so once
            if not self._failing:
                logger.warning("live: checking the sockets' credentials failed (%s); retrying", err)
            self._failing = True
            return
        if self._failing:
            logger.info("live: checking the sockets' credentials works again")
            self._failing = False
        self.checks += 1
        for handle, (credential, withdraw) in watched:
            if credential in gone and self.sockets.pop(handle, None) is not None:
                self.loop.create_task(withdraw())


_watches: dict[asyncio.AbstractEventLoop, CredentialWatch] = {}


def watch_for_running_loop() -> CredentialWatch:
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        for closed in [other for other in _watches if other.is_closed()]:
            del _watches[closed]
        watch = _watches[loop] = CredentialWatch(loop)
    return watch
