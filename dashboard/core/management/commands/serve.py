"""``python manage.py serve --host 127.0.0.1 --port 8000``: the server, as ``make run`` runs it."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Serve the dashboard (HTTP and websockets) with its background work (the embedded mode's task "
        "worker). SIGTERM or SIGINT stops it gracefully: requests in flight are answered and running "
        "replays stop at a delivery boundary, within EVENTSCOPE_SHUTDOWN_GRACE_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default 8000).")

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at the top: only this command needs daphne and Twisted loaded.
        from dashboard.core.server import serve

        status = serve(options["host"], options["port"], grace=settings.EVENTSCOPE_SHUTDOWN_GRACE_SECONDS)
        if status:
            sys.exit(status)
