"""``python manage.py bootstrap``: make a checkout ready to serve (the first step of ``make run``).

It does what importing the settings never does: it creates ``var/`` and, unless ``SECRET_KEY`` is
set, generates a lasting key into ``var/secret_key``; then it runs the system checks and applies the
migrations, and on the first start creates a login and an ingest token and prints both. Run again,
it applies new migrations and says where to log in.

The commands it prints are meant to be pasted as they are: run from the checkout, with the
checkout's own interpreter (``.venv/bin/python``, not whichever ``python`` is first on the PATH).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
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
        base = f"http://{options['host']}:{options['port']}"
        if not self._first_login(base):
            self._where_to_log_in(base)

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

    def _where_to_log_in(self, base: str) -> None:
        """A later start: where the dashboard is and who may log in, without printing a secret."""
        manage = manage_py()
        staff = list(get_user_model().objects.filter(is_staff=True, is_active=True).values_list("username", flat=True))
        first_run = settings.VAR_DIR / "first-run.txt"
        lines = [f"Eventscope: log in at {base}/"]
        if staff:
            names = ", ".join(staff[:3]) + (f" and {len(staff) - 3} more" if len(staff) > 3 else "")
            lines.append(f"  Staff logins: {names}.")
        if first_run.exists():
            lines.append(f"  The first login's password and a token are in {first_run}.")
        lines.append(f"  Forgot a password: {manage} changepassword NAME; another login: {manage} createsuperuser")
        lines.append(f"  Tokens: {manage} list_tokens, create_token NAME --scopes ingest, or {base}/settings/tokens/")
        self.stdout.write("\n".join(lines))

    def _first_login(self, base: str) -> bool:
        """On the first start: create the ``admin`` login and an ingest token and print both; True.
        False when logins exist already."""
        user_model = get_user_model()
        if user_model.objects.exists():
            return False
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
            f"  More tokens: {manage_py()} create_token NAME --scopes ingest,read,operate (or {base}/settings/tokens/)",
        ]
        first_run.write_text("\n".join(lines) + "\n")
        first_run.chmod(0o600)
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"  (also written to {first_run})")
        return True


def manage_py() -> str:
    """How to run ``manage.py`` from the checkout as this process was run: ``.venv/bin/python
    manage.py`` for the checkout's own virtualenv, else the interpreter's full path."""
    interpreter = Path(sys.executable)
    try:
        shown = str(interpreter.relative_to(Path(settings.BASE_DIR)))
    except ValueError:
        shown = str(interpreter)
    return f"{shown if os.sep in shown else './' + shown} manage.py"
