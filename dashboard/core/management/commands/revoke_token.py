"""``python manage.py revoke_token NAME_OR_KEY_ID [--all]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.core.tokens import find_live, revoke


class Command(BaseCommand):
    help = (
        "Revoke an API token, by key id or by name: it is refused (401) from its next request on. "
        "A name that several live tokens share needs --all (or one of their key ids)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token", metavar="NAME_OR_KEY_ID", help="The token's key id (ES…) or its name.")
        parser.add_argument("--all", action="store_true", help="Revoke every live token with this name.")

    def handle(self, *args: Any, **options: Any) -> None:
        found = find_live(options["token"])
        if not found:
            raise CommandError(
                f"No live token has the key id or name {options['token']!r} "
                "(see .venv/bin/python manage.py list_tokens)."
            )
        if len(found) > 1 and not options["all"]:
            listed = ", ".join(token.key_id for token in found)
            raise CommandError(
                f"{len(found)} live tokens are named {options['token']!r} ({listed}): "
                "give one key id, or --all to revoke them all."
            )
        for token in found:
            if revoke(token.key_id):
                self.stdout.write(f"Revoked {token.name!r} ({token.key_id}).")
