"""Consumers may be brokers: ``target`` holds the broker options of a consumer's kind ({} for HTTP,
which every consumer so far is)."""

import dashboard.core.jsonfield
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('replay', '0004_consumer_paused_attempt_log'),
    ]

    operations = [
        migrations.AddField(
            model_name='consumer',
            name='target',
            field=dashboard.core.jsonfield.FastJSONField(blank=True, db_default={}, default=dict),
        ),
    ]
