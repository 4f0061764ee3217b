"""The Event model, moved here from the ``dashboard`` app (now ``dashboard.core``).

State only: the tables keep their names (``db_table``) and their data; nothing is copied."""


import dashboard.core.jsonfield
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('dashboard', '0006_idempotency_records'),
    ]

    operations = [
        # The tables are already there: only Django's picture of which app owns them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Event',
                    fields=[
                        ('id', models.CharField(max_length=26, primary_key=True, serialize=False)),
                        ('event_id', models.CharField(max_length=256)),
                        ('source', models.CharField(max_length=256)),
                        ('detail_type', models.CharField(max_length=256)),
                        ('time', models.DateTimeField()),
                        ('account', models.CharField(default='', max_length=64)),
                        ('region', models.CharField(default='', max_length=64)),
                        ('resources', dashboard.core.jsonfield.FastJSONField(default=list)),
                        ('detail', dashboard.core.jsonfield.FastJSONField(default=dict)),
                        ('extra', dashboard.core.jsonfield.FastJSONField(default=dict)),
                        ('raw', models.TextField(default='')),
                        ('received_at', models.DateTimeField()),
                        ('format', models.CharField(max_length=16)),
                        ('trace_id', models.CharField(default='', max_length=32)),
                        ('parent_span_id', models.CharField(default='', max_length=16)),
                        ('idempotency_key', models.CharField(default='', max_length=256)),
                        ('replay_name', models.CharField(default='', max_length=256)),
                        ('lifecycle_matches', models.TextField(blank=True, default=None, null=True)),
                    ],
                    options={
                        'db_table': 'dashboard_event',
                        'indexes': [models.Index(fields=['source', 'detail_type', 'id'], name='event_source_type_id'), models.Index(fields=['detail_type', 'id'], name='event_type_id'), models.Index(fields=['trace_id'], name='event_trace'), models.Index(fields=['idempotency_key', 'id'], name='event_key'), models.Index(fields=['time'], name='event_time')],
                        'constraints': [models.UniqueConstraint(fields=('event_id', 'source'), name='event_id_source_unique')],
                    },
                ),
            ],
        ),
    ]
