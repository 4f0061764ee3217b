"""ASGI entry point: HTTP through Django, websockets through Channels.

Importing it starts no thread and writes nothing: the server process's background work (the embedded
mode's task worker, the folder thread of SQLite) is registered by the apps and started and stopped
by the server (``manage.py serve``, see ``dashboard/core/background.py``).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the websocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.fastpath import IngestFastPath  # noqa: E402
from dashboard.core.httpserver import answer_refusals_as_json  # noqa: E402
from dashboard.live.origin import BrowserOriginValidator  # noqa: E402
from dashboard.live.routing import websocket_urlpatterns  # noqa: E402

# Requests the HTTP server refuses itself (a URL over 16 KiB, malformed HTTP) get a JSON error too.
answer_refusals_as_json()

application = ProtocolTypeRouter(
    {
        "http": IngestFastPath(django_asgi_app),  # type: ignore[arg-type]
        # Session sockets must come from our own pages; bearer-token sockets (scripts) need no Origin.
        "websocket": BrowserOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
