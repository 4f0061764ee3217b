"""A delivery's event has no foreign key in the database: on PostgreSQL the event table is
partitioned (``events.0003``), and a foreign key to it would have to name the whole primary key
``(id, received_at)``. Django still follows the relation (``CASCADE``), as retention does.

State only: on PostgreSQL ``events.0003`` dropped the constraint; SQLite keeps it (its tables are
not partitioned, and rebuilding the delivery table for nothing would cost a copy)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_event_partitioned_by_day"),
        ("replay", "0005_consumer_target"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="event",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="events.event",
                    ),
                ),
            ],
        ),
    ]
