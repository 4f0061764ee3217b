"""Events carry their lifecycle matches; on SQLite records are folded from them (``dashboard.lifecycles.fold``)."""

from django.db import migrations, models

# Rowids grow in commit order only while the newest rows stay: when they are deleted, SQLite hands
# their rowids out again, so the fold position comes down with them (everything above it was folded).
_TRIGGER = """
CREATE TRIGGER dashboard_event_fold_position AFTER DELETE ON dashboard_event
WHEN old.rowid > (SELECT coalesce(max(rowid), 0) FROM dashboard_event)
BEGIN
    UPDATE dashboard_trackingcursor SET position = (SELECT coalesce(max(rowid), 0) FROM dashboard_event)
    WHERE position > (SELECT coalesce(max(rowid), 0) FROM dashboard_event);
END
"""


def start_position(apps, schema_editor):
    """Events stored before this migration were tracked as they were stored: fold from here on."""
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_TRIGGER)
        cursor.execute(
            "INSERT INTO dashboard_trackingcursor (id, position, last_id) SELECT 1, coalesce(max(rowid), 0), "
            "coalesce((SELECT id FROM dashboard_event ORDER BY rowid DESC LIMIT 1), '') FROM dashboard_event"
        )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS dashboard_event_fold_position")


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0004_transaction_json_unchecked"),
    ]

    operations = [
        migrations.CreateModel(
            name="TrackingCursor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.BigIntegerField(default=0)),
                ("last_id", models.CharField(blank=True, default="", max_length=26)),
            ],
        ),
        migrations.AddField(
            model_name="event",
            name="lifecycle_matches",
            field=models.TextField(blank=True, default=None, null=True),
        ),
        migrations.RunPython(start_position, drop_trigger),
    ]
