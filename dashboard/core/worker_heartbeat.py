"""Celery workers say they are alive by writing to Redis; ``/readyz`` counts them with one command.

Asking the workers (``control.ping``) broadcasts to all of them through the broker and waits for
the answers: on every probe of every web node. Instead each worker process (scaled mode, started by
``make worker`` or ``make serve``) keeps a member in one sorted set per task queue, scored with
Redis's own clock every :data:`INTERVAL_SECONDS`; readiness counts the members seen within
:data:`STALE_SECONDS`, by Redis's clock too, so clocks of different machines never disagree. A
worker that stops cleanly takes its member out; one that is killed ages out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

logger = logging.getLogger(__name__)

# How often a worker writes its heartbeat, and after how long without one it no longer counts.
INTERVAL_SECONDS = 10.0
STALE_SECONDS = 35

# Both scripts read the time from Redis so that only one clock decides what is stale.
_BEAT = """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return now
"""
_COUNT = """
local now = tonumber(redis.call('TIME')[1])
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
"""


def key() -> str:
    """The sorted set of the workers of this deployment's task queue (deployments sharing a Redis
    database keep apart by their queue names, as their tasks do)."""
    return f"eventscope:workers:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def live_workers(client: Any) -> int:
    """How many workers wrote a heartbeat within :data:`STALE_SECONDS`; ``client`` is a redis-py
    client (its errors propagate)."""
    return int(client.eval(_COUNT, 1, key(), STALE_SECONDS))


class Heartbeat(threading.Thread):
    """Writes this worker process's heartbeat until :meth:`stop`. A Redis that does not answer is
    logged once and retried at the next beat: the worker itself goes on."""

    def __init__(self, member: str) -> None:
        super().__init__(name="worker heartbeat", daemon=True)
        self.member = member
        self._stopped = threading.Event()
        self._failing = False

    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)

    def run(self) -> None:
        client = self._client()
        try:
            while True:
                self._beat(client)
                if self._stopped.wait(INTERVAL_SECONDS):
                    break
            client.zrem(key(), self.member)
        except Exception as err:  # going away: an unreachable Redis ages the member out anyway
            logger.info("worker heartbeat: could not take %s out: %s", self.member, err)
        finally:
            client.close()

    def _beat(self, client: Any) -> None:
        try:
            client.eval(_BEAT, 1, key(), self.member, STALE_SECONDS)
        except Exception as err:
            if not self._failing:
                logger.warning("worker heartbeat: Redis did not take it (%s); retrying", err)
            self._failing = True
            return
        if self._failing:
            logger.info("worker heartbeat: written again")
        self._failing = False

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self.join(timeout)


_heartbeat: Heartbeat | None = None


def _on_worker_ready(**kwargs: object) -> None:
    global _heartbeat
    if not settings.REDIS_URL or _heartbeat is not None:
        return  # the embedded mode's worker reports its own state
    _heartbeat = Heartbeat(f"{socket.gethostname()}:{os.getpid()}")
    _heartbeat.start()


def _on_worker_shutdown(**kwargs: object) -> None:
    global _heartbeat
    if _heartbeat is not None:
        _heartbeat.stop()
        _heartbeat = None


def connect() -> None:
    """Write heartbeats from every Celery worker process of the scaled mode (called once, from the
    core app's ``ready()``, which runs in workers too)."""
    worker_ready.connect(_on_worker_ready, dispatch_uid="eventscope-worker-heartbeat-start")
    worker_shutdown.connect(_on_worker_shutdown, dispatch_uid="eventscope-worker-heartbeat-stop")
