"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness).

``/healthz`` says only that the process answers: it asks nothing else, so a supervisor restarting
processes that fail it never restarts a healthy web node because its database or Redis is away.

``/readyz`` says whether this process can take traffic now, part by part: the database, the live
layer and the task worker. It answers within about a second when Redis is down (Redis is asked once,
with short timeouts) and broadcasts nothing: Celery workers are counted by the heartbeats they write
to Redis (``dashboard.core.worker_heartbeat``), not pinged. In the scaled mode the workers are other
processes, so their absence is reported but does not take this web node out of the load balancer
(``"required": false``); the embedded mode's worker runs in this process, so there it does.

Anyone may ask (load balancers and supervisors do, without credentials), but the drivers' error texts
(addresses, user names, server messages) are shown only to a caller with the ``read`` scope, by token
or logged-in session; anyone else sees each part's status.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from dashboard.core import worker_heartbeat
from dashboard.core.http import ApiError, authenticate, json_response

logger = logging.getLogger(__name__)

# Seconds to connect to Redis, and then for its answer.
REDIS_TIMEOUT = 0.3


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok", "engine": connection.vendor}
    except Exception as err:  # any failure here means "down", whatever the driver raised
        logger.warning("readiness: database down: %s", err)
        return {"status": "down", "engine": connection.vendor, "error": str(err)[:200]}


def _redis() -> tuple[int, str | None]:
    """The Celery workers that wrote a heartbeat lately, and why Redis (``REDIS_URL``) did not
    answer (None when it did): one round trip, which is also the live layer's check."""
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, retry=None
    )
    try:
        return worker_heartbeat.live_workers(client), None
    except Exception as err:  # any failure here means "down"
        return 0, str(err)[:200] or type(err).__name__
    finally:
        client.close()


def _live_layer(redis_error: str | None) -> dict[str, Any]:
    backend = type(get_channel_layer()).__name__
    if redis_error is not None:
        return {"status": "down", "backend": backend, "error": redis_error}
    return {"status": "ok", "backend": backend}


def _worker(workers: int, redis_error: str | None) -> dict[str, Any]:
    if not settings.REDIS_URL:
        from dashboard.core import embedded_worker

        # Switched off on purpose (EVENTSCOPE_EMBEDDED_WORKER=0), it is reported, not waited for.
        return {**embedded_worker.status(), "required": settings.EVENTSCOPE_EMBEDDED_WORKER}
    part: dict[str, Any] = {"mode": "celery", "workers": workers, "required": False}
    if redis_error is not None:  # the broker is REDIS_URL: no worker can be reached through it
        return {"status": "down", **part, "error": f"the broker is unreachable: {redis_error}"}
    if not workers:
        return {"status": "down", **part, "error": "no worker is running (start one: make worker)"}
    return {"status": "ok", **part}


def _may_see_errors(request: HttpRequest) -> bool:
    """Whether the caller holds the ``read`` scope (token or session). Never raises: a caller who
    cannot be checked (bad token, or the database that holds tokens and sessions is down) is
    anonymous here."""
    try:
        authenticate(request, "read", allow_session=True)
    except ApiError:
        return False
    except Exception as err:
        logger.info("readiness: the caller could not be authenticated: %s", err)
        return False
    return True


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: ``200 {"status": "ok"}`` whenever the process answers at all."""
    return json_response({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: ``200`` when every part this process needs is up, else ``503``; the parts' states."""
    workers, redis_error = _redis() if settings.REDIS_URL else (0, None)
    parts = {"database": _database(), "live": _live_layer(redis_error), "worker": _worker(workers, redis_error)}
    ready = all(part["status"] == "ok" for part in parts.values() if part.get("required", True))
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", **parts}
    # Tokens and sessions live in the database: with it down nobody can be checked (and trying
    # would wait for a connection), so the errors stay hidden.
    if parts["database"]["status"] != "ok" or not _may_see_errors(request):
        hidden = [part.pop("error") for part in parts.values() if "error" in part]
        if hidden:
            body["details"] = "Send a token with the read scope (or log in) to see why."
    return json_response(body, status=200 if ready else 503)
