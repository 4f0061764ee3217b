"""ASGI entry point: HTTP through Django, websockets through Channels.

Importing it starts no thread: the server process's background work (the embedded mode's task worker,
the folder thread of SQLite) is started and stopped by the server with :func:`start_background`
and :func:`stop_background` (``manage.py serve``, see ``config/server.py``).
"""

from __future__ import annotations

import os
import time

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the websocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.fastpath import IngestFastPath  # noqa: E402
from dashboard.core import embedded_worker  # noqa: E402
from dashboard.core.httpserver import answer_refusals_as_json  # noqa: E402
from dashboard.lifecycles import folder  # noqa: E402
from dashboard.live.origin import BrowserOriginValidator  # noqa: E402
from dashboard.live.routing import websocket_urlpatterns  # noqa: E402
from dashboard.replay import engine  # noqa: E402

# Requests the HTTP server refuses itself (a URL over 16 KiB, malformed HTTP) get a JSON error too.
answer_refusals_as_json()

application = ProtocolTypeRouter(
    {
        "http": IngestFastPath(django_asgi_app),  # type: ignore[arg-type]
        # Session sockets must come from our own pages; bearer-token sockets (scripts) need no Origin.
        "websocket": BrowserOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


def start_background() -> None:
    """Start what runs beside the server in this process: the embedded mode's task worker (which
    runs replays) and, on SQLite, the thread that folds tracked events into transaction records."""
    embedded_worker.start_if_embedded()
    folder.start()


def stop_background(timeout: float) -> bool:
    """Stop what :func:`start_background` started, within ``timeout`` seconds: running replays stop
    at a delivery boundary and are given up for the next start to resume, the worker finishes its
    tasks, the folder its fold. True when everything stopped in time."""
    deadline = time.monotonic() + timeout
    engine.stop_runs()
    stopped = embedded_worker.stop(timeout)
    return folder.stop(max(0.0, deadline - time.monotonic())) and stopped
