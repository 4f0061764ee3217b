"""Consumer, Replay, Delivery and DeliveryAttempt, moved here from the ``dashboard`` app.

State only: the tables keep their names (``db_table``) and their data; nothing is copied."""


import dashboard.core.jsonfield
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('events', '0001_moved_here'),
        ('dashboard', '0006_idempotency_records'),
    ]

    operations = [
        # The tables are already there: only Django's picture of which app owns them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Consumer',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('url', models.CharField(max_length=2048)),
                        ('pattern', dashboard.core.jsonfield.FastJSONField(blank=True, default=None, null=True)),
                        ('secret', models.CharField(blank=True, default='', max_length=256)),
                        ('rate_per_second', models.FloatField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'dashboard_consumer',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='Replay',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=256)),
                        ('since', models.DateTimeField()),
                        ('until', models.DateTimeField()),
                        ('pattern', dashboard.core.jsonfield.FastJSONField(blank=True, default=None, null=True)),
                        ('rate_per_second', models.FloatField(blank=True, null=True)),
                        ('state', models.CharField(default='pending', max_length=16)),
                        ('error', models.TextField(blank=True, default='')),
                        ('matched', models.PositiveIntegerField(default=0)),
                        ('planned', models.PositiveIntegerField(default=0)),
                        ('total', models.PositiveIntegerField(default=0)),
                        ('delivered', models.PositiveIntegerField(default=0)),
                        ('failed', models.PositiveIntegerField(default=0)),
                        ('skipped', models.PositiveIntegerField(default=0)),
                        ('last_replayed_time', models.DateTimeField(blank=True, null=True)),
                        ('cursor_time', models.DateTimeField(blank=True, null=True)),
                        ('cursor_event', models.CharField(blank=True, default='', max_length=26)),
                        ('walk_done', models.BooleanField(default=False)),
                        ('lease_owner', models.CharField(blank=True, default='', max_length=64)),
                        ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('consumers', models.ManyToManyField(db_table='dashboard_replay_consumers', related_name='replays', to='replay.consumer')),
                    ],
                    options={
                        'db_table': 'dashboard_replay',
                    },
                ),
                migrations.CreateModel(
                    name='Delivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveIntegerField()),
                        ('idempotency_key', models.CharField(blank=True, default='', max_length=256)),
                        ('state', models.CharField(default='pending', max_length=16)),
                        ('claim', models.CharField(blank=True, default='', max_length=64)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('drive_attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('last_status', models.PositiveIntegerField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True, default='')),
                        ('last_latency_ms', models.FloatField(blank=True, null=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('updated_at', models.DateTimeField()),
                        ('consumer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='replay.consumer')),
                        ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.event')),
                        ('replay', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='replay.replay')),
                    ],
                    options={
                        'db_table': 'dashboard_delivery',
                    },
                ),
                migrations.CreateModel(
                    name='DeliveryAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveIntegerField()),
                        ('at', models.DateTimeField()),
                        ('status', models.PositiveIntegerField(blank=True, null=True)),
                        ('latency_ms', models.FloatField()),
                        ('error', models.TextField(blank=True, default='')),
                        ('outcome', models.CharField(max_length=16)),
                        ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='replay.delivery')),
                    ],
                    options={
                        'db_table': 'dashboard_deliveryattempt',
                        'indexes': [models.Index(fields=['delivery', 'number'], name='attempt_delivery_number')],
                    },
                ),
                migrations.AddIndex(
                    model_name='replay',
                    index=models.Index(fields=['state', 'lease_expires_at'], name='replay_state_lease'),
                ),
                migrations.AddIndex(
                    model_name='delivery',
                    index=models.Index(fields=['replay', 'consumer', 'state', 'seq'], name='delivery_lane'),
                ),
                migrations.AddIndex(
                    model_name='delivery',
                    index=models.Index(fields=['replay', 'state', 'id'], name='delivery_replay_state'),
                ),
                migrations.AddConstraint(
                    model_name='delivery',
                    constraint=models.UniqueConstraint(fields=('replay', 'event', 'consumer'), name='delivery_replay_event_consumer'),
                ),
            ],
        ),
    ]
