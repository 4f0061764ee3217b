"""``python manage.py supervise --port 8001 --web-processes 2``: what ``make serve`` runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from dashboard.core.supervisor import Supervisor, children, fresh_metrics_folder


class Command(BaseCommand):
    help = (
        "The scaled mode on one machine, in the foreground: WEB_PROCESSES web processes (manage.py serve) on "
        "consecutive ports from --port, a Celery worker and Celery beat; Ctrl-C or SIGTERM stops them all "
        "gracefully. Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL). Run the migrations first "
        "(make serve does)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address the web processes listen on.")
        parser.add_argument("--port", type=int, default=8000, help="The first web process's port (default 8000).")
        parser.add_argument(
            "--web-processes", type=int, default=2, help="How many web processes, on consecutive ports (default 2)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL or connection.vendor != "postgresql":
            raise CommandError(
                "make serve runs several processes, which share PostgreSQL and Redis: set DATABASE_URL="
                "postgres://… and REDIS_URL=redis://… (on one machine without them, make run serves everything)."
            )
        count, port = options["web_processes"], options["port"]
        if count < 1 or not 0 < port <= 65535 - count:
            raise CommandError("--web-processes must be 1 or more, on ports below 65536.")
        env = dict(os.environ)
        if not env.get("PROMETHEUS_MULTIPROC_DIR"):
            env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_folder(Path(settings.VAR_DIR) / "metrics"))
        processes = children(
            manage_py=Path(settings.BASE_DIR) / "manage.py",
            host=options["host"],
            port=port,
            web_processes=count,
            beat_schedule=Path(settings.CELERY_BEAT_SCHEDULE_FILENAME),
        )
        urls = ", ".join(f"http://{options['host']}:{port + n}/" for n in range(count))
        self.stdout.write(f"Web processes on {urls} with a Celery worker and beat; Ctrl-C stops them all.")
        self.stdout.write("Put a load balancer in front of the web processes (README: Deploying).")
        self.stdout.flush()
        status = Supervisor(
            processes, env, grace=settings.EVENTSCOPE_SHUTDOWN_GRACE_SECONDS, out=sys.stdout.buffer
        ).run()
        if status:
            sys.exit(status)
