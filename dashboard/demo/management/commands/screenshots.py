"""``python manage.py screenshots --out docs/screenshots``: PNGs of the main pages, filled by the demo.

It starts its own server on a temporary database (nothing of this checkout's data is touched), runs
the demo shop for some orders, logs in with Playwright driving Debian's Chromium, and saves a
screenshot of each main page.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.demo.management.commands.demo import NEEDS as DEMO_NEEDS
from dashboard.demo.requirements import require

CHROMIUM = os.environ.get("EVENTSCOPE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "screenshots-" + secrets.token_hex(4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Command(BaseCommand):
    help = "Start a server on a temporary database, run the demo, and save PNG screenshots of the main pages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default="docs/screenshots", help="directory for the PNGs")
        parser.add_argument("--orders", type=int, default=80, help="demo orders to place first")
        parser.add_argument("--width", type=int, default=1280)
        parser.add_argument("--height", type=int, default=860)

    def handle(self, *args: Any, **options: Any) -> None:
        require("requests", "playwright", *DEMO_NEEDS)
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        root = Path(settings.BASE_DIR)
        with tempfile.TemporaryDirectory(prefix="eventscope-shots-") as tmp:
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            env.update(
                {
                    "EVENTSCOPE_VAR_DIR": tmp,
                    "SECRET_KEY": secrets.token_urlsafe(50),
                    "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
                }
            )

            def manage(*argv: str) -> None:
                # Our own interpreter and manage.py with fixed arguments: nothing here comes from input.
                subprocess.run([sys.executable, "manage.py", *argv], cwd=root, env=env, check=True)  # noqa: S603

            manage("migrate", "--no-input", "-v", "0")
            manage("createsuperuser", "--no-input", "--username", "ops", "--email", "ops@example.com")
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            server = subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                self._wait(url)
                manage("demo", "--url", url, "--orders", str(options["orders"]), "--rate", "8", "--seed", "11")
                self._shoot(url, Path(tmp) / "eventscope.sqlite3", out, options["width"], options["height"])
            finally:
                server.terminate()
                server.wait(timeout=20)

    def _wait(self, url: str) -> None:
        import requests

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/healthz", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise CommandError("the server did not start")

    def _targets(self, database: Path) -> dict[str, str]:
        """Pages worth showing: a retried key, its first event and trace, a trace with a failure."""
        with sqlite3.connect(database) as db:
            key = (
                db.execute(
                    "SELECT idempotency_key FROM dashboard_event WHERE detail_type = 'OrderCreated' "
                    "GROUP BY idempotency_key HAVING COUNT(*) > 1 LIMIT 1"
                ).fetchone()
                or db.execute("SELECT idempotency_key FROM dashboard_event LIMIT 1").fetchone()
            )
            event_id, trace_id = db.execute(
                "SELECT id, trace_id FROM dashboard_event WHERE idempotency_key = ? ORDER BY id LIMIT 1", key
            ).fetchone()
            failed = db.execute("SELECT trace_id, span_id FROM tracing_span WHERE status_code = 2 LIMIT 1").fetchone()
        from urllib.parse import quote

        targets = {
            "overview": "/?window=15m",
            "events": "/events/?limit=25",
            "event": f"/events/{event_id}/",
            "trace": f"/traces/{trace_id}/",
            "key": f"/keys/{quote(key[0], safe='')}/",
            "transactions": "/transactions/",
            "patterns": "/patterns/",
        }
        if failed:
            targets["trace-failure"] = f"/traces/{failed[0]}/#span-{failed[1]}"
        return targets

    def _shoot(self, url: str, database: Path, out: Path, width: int, height: int) -> None:
        from playwright.sync_api import sync_playwright

        targets = self._targets(database)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(base_url=url, viewport={"width": width, "height": height})
            page.goto("/login/")
            page.fill("input[name=username]", "ops")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            for name, path in targets.items():
                page.goto(path)
                page.wait_for_load_state("networkidle")
                if name.startswith("trace"):
                    page.wait_for_selector(".wf-row.span")
                    page.wait_for_timeout(300)  # the live socket's first refresh
                target = out / f"{name}.png"
                page.screenshot(path=str(target))
                self.stdout.write(f"{target} ({target.stat().st_size // 1024} KiB)")
            browser.close()
