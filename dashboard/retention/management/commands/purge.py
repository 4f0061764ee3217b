"""``python manage.py purge [--dry-run]``: purge what is older than the retention settings now."""

from __future__ import annotations

from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.retention.policy import DAYS_SETTINGS, retention_days, wording
from dashboard.retention.purge import Outcome, purge


class Command(BaseCommand):
    help = (
        "Delete the events, spans, log records, service map rollups and transaction records from before their "
        "retention cut-off (EVENTSCOPE_RETENTION_DAYS_*), in small batches beside ingest (on PostgreSQL whole "
        "days go by dropping their partitions); --dry-run only counts them and names the partitions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
        parser.add_argument(
            "--batch-size", type=_batch_size, default=None, help="rows a write transaction, 1-100000 (default: setting)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        for outcome in purge(dry_run=dry_run, batch_size=options["batch_size"]):
            self.stdout.write(describe(outcome, dry_run))


def _batch_size(text: str) -> int:
    """A batch size as the setting allows it (``retention.E002``); argparse reports anything else."""
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100_000:
        raise ArgumentTypeError(f"{value} is not between 1 and 100000")
    return value


def describe(outcome: Outcome, dry_run: bool) -> str:
    """One line per kind, e.g. ``events: 120 deleted (received before 2026-11-07T09:00:00+00:00, 30 days)``."""
    days = retention_days(outcome.kind)
    if outcome.cutoff is None:
        return f"{outcome.kind}: kept forever ({DAYS_SETTINGS[outcome.kind]}=0)"
    verb = "would be deleted" if dry_run else "deleted"
    rows, age = wording(outcome.kind)
    line = f"{outcome.kind}: {outcome.deleted} {rows}{verb} ({age} {outcome.cutoff.isoformat()}, {days} days)"
    if outcome.kept:
        line += f"; {outcome.kept} kept for pending or running replays"
    if outcome.dropped:
        # PostgreSQL: the whole days among them, which go by dropping their partitions.
        verb = "would drop" if dry_run else "dropped"
        names = ", ".join(f"{name} ({rows})" for name, rows in outcome.dropped)
        plural = "s" if len(outcome.dropped) != 1 else ""
        line += f"\n  {verb} {len(outcome.dropped)} day partition{plural}: {names}"
    return line
