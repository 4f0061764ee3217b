"""Telling every process that a token was revoked, so that none goes on serving it from its cache.

Each process caches verified tokens (``dashboard.core.tokens``), so ingest does not query them per
request; a revocation must still hold from the token's next request, whichever process revoked it
(``manage.py revoke_token``, the tokens page of another web process, another machine).

- **This machine**: revoking replaces a stamp file under ``var/``; every cache hit compares the
  file's identity (a ``stat``, about a microsecond) with the one its entries were made under.
- **Other machines** (scaled mode, ``REDIS_URL``): revoking also publishes on a Redis channel; each
  process holds a subscription, on a thread of its own, and counts what it hears. The first token
  lookup of a process starts it and waits for it (at most ``SUBSCRIBE_WAIT_SECONDS``); each time it
  subscribes (the first time, and again after Redis was away) it counts one more, since what was
  revoked before is unknown: the entries cached before (by other threads meanwhile) are dropped.
  While Redis is away, revocations made on other machines reach this process's cache only as its
  entries expire (``EVENTSCOPE_TOKEN_CACHE_SECONDS``), as they would without the channel.

:func:`stamp` sums both up: the cache is valid while the stamp is the one its entries were made under.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# The subscription is checked with a PING when it has been quiet this long, and a Redis that does not
# answer within the read timeout ends it (then it is made again, after a back-off).
HEALTH_CHECK_SECONDS = 5
READ_TIMEOUT_SECONDS = 15
MAX_BACKOFF_SECONDS = 30.0
# How long the first token lookup of a process waits for the subscription (Redis away: once).
SUBSCRIBE_WAIT_SECONDS = 0.5

# Written by the listener thread only: how many revocations (and re-subscriptions, after which what
# was missed is unknown) it has heard of, and whether it is subscribed now.
_generation = 0
_listening = False
_listener: threading.Thread | None = None
_start_lock = threading.Lock()
_subscribed = threading.Event()  # set at the first subscription, which the first lookup waits for


def _stamp_path() -> Path:
    return Path(settings.VAR_DIR) / "tokens-revoked"


def _channel() -> str:
    # The deployment's name on a shared Redis database, as its task queue and worker heartbeats have.
    return f"eventscope:tokens-revoked:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def _file_stamp() -> tuple[int, int]:
    """The stamp file's identity: a new file (inode) and time at each revocation; (0, 0) when none."""
    try:
        info = os.stat(_stamp_path())
    except OSError:
        return (0, 0)
    return (info.st_ino, info.st_mtime_ns)


def stamp() -> Hashable:
    """What cached tokens are valid under: it changes when this process hears of a revocation."""
    file = _file_stamp()
    if not settings.REDIS_URL:
        return file
    if _listener is None:
        _start_listener()
    return (file, _generation)


def announce() -> None:
    """After a revocation committed: replace the stamp file and publish on Redis. Neither failing
    undoes the revocation; each failure is logged with what it means."""
    path = _stamp_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tokens-revoked.")
        with os.fdopen(fd, "w") as out:
            out.write(f"{time.time_ns()}\n")
        os.replace(temporary, path)
    except OSError as err:
        logger.warning(
            "tokens: could not write %s (%s): other processes of this machine refuse the revoked token "
            "within EVENTSCOPE_TOKEN_CACHE_SECONDS",
            path,
            err,
        )
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.publish(_channel(), "revoked")
        except Exception as err:  # Redis away: the others' caches expire on their own
            logger.warning(
                "tokens: could not tell the other machines of a revocation (%s): they refuse the token "
                "within EVENTSCOPE_TOKEN_CACHE_SECONDS",
                err,
            )
        finally:
            client.close()


def _start_listener() -> None:
    global _listener
    with _start_lock:
        if _listener is None:
            _listener = threading.Thread(
                target=_listen, args=(settings.REDIS_URL, _channel()), name="token revocations", daemon=True
            )
            _listener.start()
            _subscribed.wait(SUBSCRIBE_WAIT_SECONDS)


def _listen(url: str, channel: str) -> None:
    """Hold the subscription to ``channel`` on ``url`` for the life of the process, making it again
    whenever it ends."""
    global _generation, _listening
    import redis

    backoff = 0.5
    while True:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=READ_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS,
        )
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(channel)
            while True:
                message: dict[str, Any] | None = pubsub.get_message(timeout=HEALTH_CHECK_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # (Re)subscribed, by this loop or by the client's own reconnection: whatever was
                    # revoked while not subscribed is unknown, so the entries cached before go.
                    _generation += 1
                    _listening = True
                    _subscribed.set()
                    if backoff > 0.5:
                        logger.info("tokens: the revocation channel is back")
                    backoff = 0.5
                elif message["type"] == "message":
                    _generation += 1
        except Exception as err:  # Redis away or gone quiet: subscribe again, after a back-off
            if _listening:
                logger.warning(
                    "tokens: lost the revocation channel (%s): revocations made elsewhere reach this process "
                    "within EVENTSCOPE_TOKEN_CACHE_SECONDS until it is back",
                    err,
                )
            _listening = False
        finally:
            try:
                pubsub.close()
                client.close()
            except Exception:  # noqa: S110  (closing a connection that already failed)
                pass
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
