from django.db import migrations, models

TABLE = '"servicemap_edgebucket"'


def add_column(apps, schema_editor):
    """Add ``messaging_operation`` in place. Django would rebuild the whole table on SQLite (copying
    every rollup row, under the write lock) to add a NOT NULL column; SQLite and PostgreSQL (11+)
    both add one with a constant default in place, without rewriting the rows."""
    schema_editor.execute(f"ALTER TABLE {TABLE} ADD COLUMN \"messaging_operation\" varchar(64) NOT NULL DEFAULT ''")
    if schema_editor.connection.vendor == "postgresql":
        # As Django leaves its columns: the default lives in the model, not in the database.
        schema_editor.execute(f'ALTER TABLE {TABLE} ALTER COLUMN "messaging_operation" DROP DEFAULT')


def drop_column(apps, schema_editor):
    schema_editor.execute(f'ALTER TABLE {TABLE} DROP COLUMN "messaging_operation"')


class Migration(migrations.Migration):
    dependencies = [
        ("servicemap", "0001_service_map"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="edgebucket",
                    name="messaging_operation",
                    field=models.CharField(default="", max_length=64),
                )
            ],
            database_operations=[migrations.RunPython(add_column, drop_column)],
        ),
    ]
