"""``python manage.py purge [--dry-run]`` and the retention settings' start-up checks."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import Client

from dashboard.events.models import Event
from tests.retention.helpers import post_events, post_logs, received
from tests.support.servers import ROOT, server_env
from tracing.models import LogRecord


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def old_and_new(api: Client) -> None:
    with received(days_ago=45):
        post_events(api, "old", 4)
        post_logs(api, "old", 3)
    post_events(api, "new", 1)


def purge_output(*args: str) -> str:
    out = io.StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_dry_run_prints_what_it_would_delete_per_kind_and_deletes_nothing(api: Client) -> None:
    old_and_new(api)
    lines = purge_output("--dry-run").splitlines()
    assert lines[0].startswith("events: 4 would be deleted (received before ")
    assert lines[0].endswith(", 30 days)")
    assert lines[1].startswith("spans: 0 would be deleted") and lines[1].endswith(", 7 days)")
    assert lines[2].startswith("logs: 3 would be deleted")
    assert lines[3].startswith("servicemap: 0 rollup rows would be deleted (buckets ended by ")
    assert lines[3].endswith(", 31 days)")
    assert lines[4].startswith("transactions: 0 records would be deleted (deadline and last change before ")
    assert lines[4].endswith(", 30 days)")
    assert (Event.objects.count(), LogRecord.objects.count()) == (5, 3)


@pytest.mark.django_db
def test_a_purge_prints_what_it_deleted(api: Client, settings: Any) -> None:
    old_and_new(api)
    settings.EVENTSCOPE_RETENTION_DAYS_SPANS = 0
    lines = purge_output("--batch-size", "3").splitlines()
    assert lines[0].startswith("events: 4 deleted (received before ")
    assert lines[1] == "spans: kept forever (EVENTSCOPE_RETENTION_DAYS_SPANS=0)"
    assert lines[2].startswith("logs: 3 deleted")
    assert (Event.objects.count(), LogRecord.objects.count()) == (1, 0)


@pytest.mark.parametrize("value", ["0", "-1", "100001", "many"])
def test_a_batch_size_outside_the_settings_range_is_refused(value: str) -> None:
    with pytest.raises(CommandError, match="--batch-size"):
        call_command("purge", "--batch-size", value)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=server_env(**env), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_the_command_runs_as_an_operator_runs_it(api: Client) -> None:
    old_and_new(api)
    dry = manage("purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "events: 4 would be deleted" in dry.stdout and "logs: 3 would be deleted" in dry.stdout
    assert Event.objects.count() == 5
    done = manage("purge", EVENTSCOPE_RETENTION_DAYS_LOGS="0")
    assert done.returncode == 0, done.stderr
    assert "events: 4 deleted" in done.stdout
    assert "logs: kept forever (EVENTSCOPE_RETENTION_DAYS_LOGS=0)" in done.stdout
    assert (Event.objects.count(), LogRecord.objects.count()) == (1, 3)


@pytest.mark.server
def test_a_value_that_is_not_a_number_stops_the_start_naming_the_variable() -> None:
    result = manage("check", EVENTSCOPE_RETENTION_DAYS_EVENTS="thirty")
    assert result.returncode != 0
    assert "EVENTSCOPE_RETENTION_DAYS_EVENTS must be an integer, got 'thirty'" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("EVENTSCOPE_RETENTION_DAYS_EVENTS", -1, "retention.E001"),
        ("EVENTSCOPE_RETENTION_DAYS_LOGS", 10**6, "retention.E001"),
        ("EVENTSCOPE_RETENTION_BATCH_SIZE", 0, "retention.E002"),
        ("EVENTSCOPE_RETENTION_PAUSE_MS", -5, "retention.E003"),
        ("EVENTSCOPE_RETENTION_PAUSE_FACTOR", -1, "retention.E003"),
        ("EVENTSCOPE_RETENTION_PURGE_SECONDS", 0, "retention.E003"),
    ],
)
def test_a_value_out_of_range_is_a_check_error(settings: Any, name: str, value: int, check: str) -> None:
    setattr(settings, name, value)
    errors = [message for message in run_checks() if message.id.startswith("retention.")]
    assert [message.id for message in errors] == [check]
    assert name in errors[0].msg


def test_the_defaults_pass_the_checks() -> None:
    assert not [message for message in run_checks() if message.id.startswith("retention.")]
