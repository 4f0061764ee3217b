"""``GET /healthz``: can this process take traffic? Database, live layer and task worker.

It answers within about a second when Redis or the workers are down: Redis (the live layer and, in
the scaled mode, the Celery broker) is asked once, with short timeouts, and the Celery workers are
pinged only when their broker answered, since a ping through a dead broker retries connecting for
seconds.

Anyone may ask (load balancers and supervisors do, without credentials), but the drivers' error texts
(addresses, user names, server messages) are shown only to a caller with the ``read`` scope, by token
or logged-in session; anyone else sees each part's status.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from dashboard.core.http import ApiError, authenticate, json_response

logger = logging.getLogger(__name__)

# Seconds to connect to Redis, and then for its answer to PING.
REDIS_TIMEOUT = 0.3
# Seconds the Celery workers have to answer a ping; the answer waits for all of it (and, measured,
# up to twice as long now and then while the broker's reply queue is read to its end).
WORKER_PING_TIMEOUT = 0.4


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok", "engine": connection.vendor}
    except Exception as err:  # any failure here means "down", whatever the driver raised
        logger.warning("health: database down: %s", err)
        return {"status": "down", "engine": connection.vendor, "error": str(err)[:200]}


def _redis_error() -> str | None:
    """Why Redis (``REDIS_URL``) does not answer a PING in time; None when it does."""
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, retry=None
    )
    try:
        client.ping()
        return None
    except Exception as err:  # any failure here means "down"
        return str(err)[:200] or type(err).__name__
    finally:
        client.close()


def _live_layer(redis_error: str | None) -> dict[str, Any]:
    backend = type(get_channel_layer()).__name__
    if redis_error is not None:
        return {"status": "down", "backend": backend, "error": redis_error}
    return {"status": "ok", "backend": backend}


def _worker(redis_error: str | None) -> dict[str, Any]:
    if not settings.REDIS_URL:
        from dashboard.core import embedded_worker

        return embedded_worker.status()
    if redis_error is not None:  # the broker is REDIS_URL: no worker can be reached through it
        return {"status": "down", "mode": "celery", "error": f"the broker is unreachable: {redis_error}"}
    try:
        replies = current_app.control.ping(timeout=WORKER_PING_TIMEOUT)
    except Exception as err:  # the broker went away since it answered
        return {"status": "down", "mode": "celery", "error": str(err)[:200]}
    if not replies:
        return {"status": "down", "mode": "celery", "error": "no worker answered (start one: make worker)"}
    return {"status": "ok", "mode": "celery", "workers": len(replies)}


def _may_see_errors(request: HttpRequest) -> bool:
    """Whether the caller holds the ``read`` scope (token or session). Never raises: a caller who
    cannot be checked (bad token, or the database that holds tokens and sessions is down) is
    anonymous here."""
    try:
        authenticate(request, "read", allow_session=True)
    except ApiError:
        return False
    except Exception as err:
        logger.info("health: the caller could not be authenticated: %s", err)
        return False
    return True


def healthz(request: HttpRequest) -> HttpResponse:
    redis_error = _redis_error() if settings.REDIS_URL else None
    parts = {"database": _database(), "live": _live_layer(redis_error), "worker": _worker(redis_error)}
    healthy = all(part["status"] == "ok" for part in parts.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", **parts}
    # Tokens and sessions live in the database: with it down nobody can be checked (and trying
    # would wait for a connection), so the errors stay hidden.
    if parts["database"]["status"] != "ok" or not _may_see_errors(request):
        for part in parts.values():
            part.pop("error", None)
        if not healthy:
            body["details"] = "Send a token with the read scope (or log in) to see why."
    return json_response(body, status=200 if healthy else 503)
