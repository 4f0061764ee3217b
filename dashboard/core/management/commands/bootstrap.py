"""``python manage.py bootstrap``: on the first start, a login and a ready ingest token."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from dashboard.core.tokens import create_token


class Command(BaseCommand):
    help = "On the first start: create an 'admin' login and an ingest token, and print both. Later: do nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "", password)
        issued = create_token("default ingest", ["ingest", "read"])
        base = f"http://{options['host']}:{options['port']}"
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
