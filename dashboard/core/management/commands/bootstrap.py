"""``python manage.py bootstrap``: make a checkout ready to serve (the first step of ``make run``).

It does what importing the settings never does: it creates ``var/`` and, unless ``SECRET_KEY`` is
set, generates a lasting key into ``var/secret_key``; then it runs the system checks and applies the
migrations, and on the first start creates a login and an ingest token and prints both. Run again,
it only applies new migrations.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from dashboard.core import secret_key
from dashboard.core.checks import configured_secret_key
from dashboard.core.tokens import create_token


class Command(BaseCommand):
    help = (
        "Make this checkout ready to serve: create var/ and a secret key (unless SECRET_KEY is set), "
        "apply migrations, and on the first start create an 'admin' login and an ingest token and print both."
    )
    # The checks would refuse to start without the key this command makes: it runs them itself once
    # the key is there.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        self._ensure_secret_key()
        self.check(display_num_errors=False)
        call_command("migrate", interactive=False, verbosity=0)
        self._first_login(f"http://{options['host']}:{options['port']}")

    def _ensure_secret_key(self) -> None:
        key = configured_secret_key()
        if key and not secret_key.is_ephemeral(key):
            return
        path = settings.EVENTSCOPE_SECRET_KEY_PATH
        key, written = secret_key.create(path)
        if written:
            self.stdout.write(f"Generated a secret key into {path}; keep it: token secrets derive from it.")
        # This process read the settings before the key existed: from here on it uses the key that
        # every later start reads, so that the token printed below works with them.
        settings.SECRET_KEY = key

    def _first_login(self, base: str) -> None:
        user_model = get_user_model()
        if user_model.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "", password)
        issued = create_token("default ingest", ["ingest", "read"])
        # Kept beside the database, readable by its owner only, for whoever missed the console.
        first_run = settings.VAR_DIR / "first-run.txt"
        lines = [
            "Eventscope is set up.",
            f"  Log in at {base}/ as admin / {password}",
            f"  Ingest token (scopes ingest, read): {issued.token}",
            f"  AWS-style key pair for boto3: key id {issued.key_id}, secret {issued.secret}",
            "  Send spans:  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf "
            f"OTEL_EXPORTER_OTLP_ENDPOINT={base} OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer {issued.token}'",
            f"  Send events: curl -H 'Authorization: Bearer {issued.token}' -H 'Content-Type: application/json' "
            "-d '"
            + '{"source":"shop.orders","detail-type":"OrderCreated","detail":{"order-id":"1"}}'
            + f"' {base}/api/events",
            "  More tokens: python manage.py create_token NAME --scopes ingest,read,operate",
        ]
        first_run.write_text("\n".join(lines) + "\n")
        first_run.chmod(0o600)
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"  (also written to {first_run})")
