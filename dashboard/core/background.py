"""Work that runs beside the server in its process (the embedded mode's task worker, the folder
thread of SQLite): started when the server starts, stopped when it stops, never when a module is
imported.

Each app registers its own in its ``AppConfig.ready()``; the server (``manage.py serve``, see
``dashboard.core.server``) calls :func:`start` once it runs and :func:`stop` on SIGTERM or SIGINT.
Other processes (management commands, Celery workers, the test process, a bare ``daphne``) start
nothing. Services start in the order they registered (the order of ``INSTALLED_APPS``, lowest app
first) and stop in the reverse order, so what stands on another stops before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    name: str
    start: Callable[[], None]
    # Given the seconds left, stops and says whether everything stopped within them.
    stop: Callable[[float], bool]


_services: dict[str, Service] = {}
_lock = threading.Lock()


def _nothing() -> None:
    return None


def register(name: str, *, start: Callable[[], None] = _nothing, stop: Callable[[float], bool]) -> None:
    """Run ``start()`` when the server starts and ``stop(seconds_left)`` when it stops; ``stop``
    returns whether what it stops stopped within the time given. Registering a name again replaces
    the service (``ready()`` may run again in tests)."""
    with _lock:
        _services.pop(name, None)
        _services[name] = Service(name, start, stop)


def services() -> list[Service]:
    """The registered services, in the order they start."""
    with _lock:
        return list(_services.values())


def start() -> None:
    """Start every registered service, in order. A failure propagates: a server whose background
    work did not start must not serve (it would accept replays that nothing runs)."""
    for service in services():
        service.start()


def stop(timeout: float) -> bool:
    """Stop every registered service, in reverse order, all within ``timeout`` seconds; True when
    everything stopped in time. One that fails to stop is logged and the others are still stopped."""
    deadline = time.monotonic() + timeout
    clean = True
    for service in reversed(services()):
        try:
            stopped = service.stop(max(0.0, deadline - time.monotonic()))
        except Exception:
            logger.exception("stopping %s failed", service.name)
            stopped = False
        clean = clean and stopped
    return clean
