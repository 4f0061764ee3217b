"""``GET /healthz``: can this process take traffic? Database, live layer and task worker."""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from dashboard.api.http import json_response

logger = logging.getLogger(__name__)


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok", "engine": connection.vendor}
    except Exception as err:  # any failure here means "down", whatever the driver raised
        logger.warning("health: database down: %s", err)
        return {"status": "down", "engine": connection.vendor, "error": str(err)[:200]}


def _live_layer() -> dict[str, Any]:
    layer = get_channel_layer()
    backend = type(layer).__name__
    if not settings.REDIS_URL:
        return {"status": "ok", "backend": backend}
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        return {"status": "ok", "backend": backend}
    except Exception as err:  # any failure here means "down"
        return {"status": "down", "backend": backend, "error": str(err)[:200]}


def _worker() -> dict[str, Any]:
    if not settings.REDIS_URL:
        from dashboard import embedded_worker

        return embedded_worker.status()
    from config.celery import app

    try:
        replies = app.control.ping(timeout=0.5)
    except Exception as err:  # the broker itself is unreachable
        return {"status": "down", "mode": "celery", "error": str(err)[:200]}
    if not replies:
        return {"status": "down", "mode": "celery", "error": "no worker answered (start one: make worker)"}
    return {"status": "ok", "mode": "celery", "workers": len(replies)}


def healthz(request: HttpRequest) -> HttpResponse:
    parts = {"database": _database(), "live": _live_layer(), "worker": _worker()}
    healthy = all(part["status"] == "ok" for part in parts.values())
    return json_response({"status": "ok" if healthy else "unavailable", **parts}, status=200 if healthy else 503)
