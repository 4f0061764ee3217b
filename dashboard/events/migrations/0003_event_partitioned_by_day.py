"""PostgreSQL: the event table becomes partitioned by day of ``received_at``, and the dedupe of
``(source, event_id)`` moves to ``dashboard_event_key`` (docs/retention.md).

Every row is copied into the partitioned table in this migration's transaction (the table is locked
against writes meanwhile, and needs room for a second copy). SQLite keeps its tables: nothing runs
there, and Django's picture of the model does not change."""

# Statements are put together from table names only.
# ruff: noqa: S608

from django.db import migrations, models
from django.utils import timezone

from dashboard.core import partitions
from dashboard.events import keys

TABLE = "dashboard_event"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or partitions.is_partitioned(connection, TABLE):
        return
    with connection.cursor() as cursor:
        cursor.execute(keys.CREATE_SQL)
        cursor.execute(
            f'INSERT INTO "{keys.TABLE}" (event_id, source, stored_id) SELECT event_id, source, id FROM "{TABLE}"'
        )
    partitions.partition_table(connection, TABLE, today=timezone.now().date(), ahead=partitions.DAYS_AHEAD)
    with connection.cursor() as cursor:
        for statement in keys.TRIGGER_SQL:
            cursor.execute(statement)


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or not partitions.is_partitioned(connection, TABLE):
        return
    with connection.cursor() as cursor:
        for statement in keys.DROP_TRIGGER_SQL:
            cursor.execute(statement)
    event = apps.get_model("events", "Event")
    partitions.unpartition_table(connection, schema_editor, event)
    partitions.restore_foreign_keys(schema_editor, apps, event)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{keys.TABLE}"')


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_event_schema_error"),
        ("replay", "0004_consumer_paused_attempt_log"),
    ]

    operations = [
        # The keys' table is the model EventKey's; it is made (PostgreSQL only) by forwards.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="EventKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "event_id", "source", blank=True, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("event_id", models.CharField(max_length=256)),
                        ("source", models.CharField(max_length=256)),
                        ("stored_id", models.CharField(max_length=26)),
                    ],
                    options={
                        "db_table": "dashboard_event_key",
                    },
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
