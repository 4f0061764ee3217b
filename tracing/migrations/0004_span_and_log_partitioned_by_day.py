"""PostgreSQL: the span and log record tables become partitioned by day of ``received_at``, and the
dedupe of ``(trace_id, span_id)`` moves to ``tracing_span_key`` (docs/retention.md).

As for events (``events.0003``): rows copied in this migration's transaction, ids and the id
sequences' positions kept; nothing runs on SQLite, and Django's picture of the models does not change."""

# Statements are put together from table names only.
# ruff: noqa: S608

from django.db import migrations, models
from django.utils import timezone

from dashboard.core import partitions
from tracing import keys

SPANS, LOGS = "tracing_span", "tracing_logrecord"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    today = timezone.now().date()
    if not partitions.is_partitioned(connection, SPANS):
        with connection.cursor() as cursor:
            cursor.execute(keys.CREATE_SQL)
            cursor.execute(f'INSERT INTO "{keys.TABLE}" (trace_id, span_id) SELECT trace_id, span_id FROM "{SPANS}"')
        partitions.partition_table(connection, SPANS, today=today, ahead=partitions.DAYS_AHEAD)
        with connection.cursor() as cursor:
            for statement in keys.TRIGGER_SQL:
                cursor.execute(statement)
    if not partitions.is_partitioned(connection, LOGS):
        partitions.partition_table(connection, LOGS, today=today, ahead=partitions.DAYS_AHEAD)


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    if partitions.is_partitioned(connection, LOGS):
        partitions.unpartition_table(connection, schema_editor, apps.get_model("tracing", "LogRecord"))
    if partitions.is_partitioned(connection, SPANS):
        with connection.cursor() as cursor:
            for statement in keys.DROP_TRIGGER_SQL:
                cursor.execute(statement)
        partitions.unpartition_table(connection, schema_editor, apps.get_model("tracing", "Span"))
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE "{keys.TABLE}"')


class Migration(migrations.Migration):
    dependencies = [
        ("tracing", "0003_traceterm_trace_index"),
    ]

    operations = [
        # The keys' table is the model SpanKey's; it is made (PostgreSQL only) by forwards.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SpanKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "trace_id", "span_id", blank=True, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("trace_id", models.CharField(max_length=32)),
                        ("span_id", models.CharField(max_length=16)),
                    ],
                    options={
                        "db_table": "tracing_span_key",
                    },
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
