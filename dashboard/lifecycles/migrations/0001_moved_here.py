"""Lifecycle, Transaction and TrackingCursor, moved here from the ``dashboard`` app.

State only: the tables keep their names (``db_table``) and their data; nothing is copied."""


import dashboard.core.jsonfield
import django.db.models.deletion
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
                    name='Lifecycle',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('key', models.CharField(max_length=256)),
                        ('steps', dashboard.core.jsonfield.FastJSONField(default=list)),
                        ('timeout_seconds', models.PositiveIntegerField()),
                        ('pattern', dashboard.core.jsonfield.FastJSONField(blank=True, default=None, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'dashboard_lifecycle',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='TrackingCursor',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.BigIntegerField(default=0)),
                        ('last_id', models.CharField(blank=True, default='', max_length=26)),
                    ],
                    options={
                        'db_table': 'dashboard_trackingcursor',
                    },
                ),
                migrations.CreateModel(
                    name='Transaction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=256)),
                        ('status', models.CharField(default='in_progress', max_length=16)),
                        ('steps_mask', models.BigIntegerField(default=0)),
                        ('missing_count', models.PositiveSmallIntegerField(default=0)),
                        ('first_missing', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('steps_seen', dashboard.core.jsonfield.WrittenJSONField(default=dict)),
                        ('out_of_order', models.BooleanField(default=False)),
                        ('out_of_order_events', dashboard.core.jsonfield.WrittenJSONField(default=list)),
                        ('first_seen', models.DateTimeField()),
                        ('last_seen', models.DateTimeField()),
                        ('deadline', models.DateTimeField()),
                        ('overdue_at', models.DateTimeField(blank=True, null=True)),
                        ('duplicates', models.PositiveIntegerField(default=0)),
                        ('updates', models.PositiveIntegerField(default=0)),
                        ('trace_ids', dashboard.core.jsonfield.WrittenJSONField(default=list)),
                        ('idempotency_keys', dashboard.core.jsonfield.WrittenJSONField(default=list)),
                        ('updated_at', models.DateTimeField()),
                        ('lifecycle', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='transactions', to='lifecycles.lifecycle')),
                    ],
                    options={
                        'db_table': 'dashboard_transaction',
                        'indexes': [models.Index(fields=['lifecycle', 'id'], name='transaction_lifecycle_id'), models.Index(fields=['status', 'deadline'], name='transaction_status_deadline'), models.Index(condition=models.Q(('out_of_order', True)), fields=['id'], name='transaction_out_of_order')],
                        'constraints': [models.UniqueConstraint(fields=('lifecycle', 'key'), name='transaction_lifecycle_key_unique')],
                    },
                ),
            ],
        ),
    ]
