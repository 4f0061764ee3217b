"""``python manage.py create_token NAME --scopes ingest,read,operate [--json]``."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.core.models import SCOPES
from dashboard.core.tokens import create_token


class Command(BaseCommand):
    help = "Create an API token with scopes and print it (it cannot be shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A name to recognise the token by, e.g. the service that uses it.")
        parser.add_argument(
            "--scopes",
            default="ingest",
            help=f"Comma-separated scopes out of {', '.join(SCOPES)} (default: ingest).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help='Print {"token", "key_id", "secret", "scopes"} as JSON on the last line.',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        try:
            issued = create_token(options["name"], scopes)
        except ValueError as err:
            raise CommandError(str(err)) from None
        if options["json"]:
            payload = {"token": issued.token, "key_id": issued.key_id, "secret": issued.secret, "scopes": issued.scopes}
            self.stdout.write(orjson.dumps(payload).decode())
            return
        self.stdout.write(f"Token for {options['name']!r} with scopes {', '.join(issued.scopes)}:")
        self.stdout.write(f"  Authorization: Bearer {issued.token}")
        self.stdout.write(f"  AWS access key id: {issued.key_id}")
        self.stdout.write(f"  AWS secret access key: {issued.secret}")
