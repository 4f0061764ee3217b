"""The models that moved to their own apps keep their tables: a database at the last migration before
the move upgrades with ``migrate`` and every row is still there, with nothing copied."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("dashboard", "0006_idempotency_records")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_move_upgrades_with_its_rows_in_place():
    migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO dashboard_event (id, event_id, source, detail_type, time, account, region, resources, detail,"
            " extra, raw, received_at, format, trace_id, parent_span_id, idempotency_key, replay_name)"
            " VALUES ('01J0000000000000000000000A', 'e-1', 'shop', 'OrderPaid', '2026-01-01 00:00:00', '', '', '[]',"
            " '{}', '{}', '{}', '2026-01-01 00:00:00', 'native', '', '', 'k-1', '')"
        )
        cursor.execute(
            "INSERT INTO dashboard_consumer (name, url, secret, created_at) VALUES ('c', 'http://x/', '', '2026-01-01')"
        )
    tables_before = set(connection.introspection.table_names())

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from dashboard.events.models import Event
    from dashboard.replay.models import Consumer

    # No table made or dropped by the move. (On PostgreSQL events.0003, which may run before or
    # after it, partitions the event table by day and adds its dedupe keys' table: not the move's.)
    assert (
        set(connection.introspection.table_names()) - _partitioning_tables() == tables_before - _partitioning_tables()
    )
    event = Event.objects.get(event_id="e-1")
    assert (event.source, event.idempotency_key) == ("shop", "k-1")
    assert Consumer.objects.get(name="c").url == "http://x/"


def _partitioning_tables() -> set[str]:
    return {
        name
        for name in connection.introspection.table_names()
        if name == "dashboard_event_key" or name.startswith("dashboard_event_p")
    }
