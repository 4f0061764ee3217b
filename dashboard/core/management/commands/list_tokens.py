"""``python manage.py list_tokens [--all] [--json]``."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandParser

from dashboard.core.models import ApiToken
from dashboard.core.tokens import live_tokens


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


class Command(BaseCommand):
    help = "List the API tokens (never their secrets): name, key id, scopes, created, last used."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Include revoked tokens.")
        parser.add_argument("--json", action="store_true", help="One JSON object per token, one per line.")

    def handle(self, *args: Any, **options: Any) -> None:
        tokens = list(ApiToken.objects.order_by("-created_at", "-id")) if options["all"] else live_tokens()
        if options["json"]:
            for token in tokens:
                self.stdout.write(orjson.dumps(_as_dict(token)).decode())
            return
        if not tokens:
            self.stdout.write("No tokens. Create one: .venv/bin/python manage.py create_token NAME --scopes ingest")
            return
        rows: list[list[str]] = [["NAME", "KEY ID", "SCOPES", "CREATED", "LAST USED"]]
        rows[0] += ["REVOKED"] if options["all"] else []
        for token in tokens:
            row = [token.name, token.key_id, ",".join(token.scopes), _when(token.created_at), _when(token.last_used_at)]
            rows.append([*row, _when(token.revoked_at)] if options["all"] else row)
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for line in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _as_dict(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "key_id": token.key_id,
        "scopes": token.scopes,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }
