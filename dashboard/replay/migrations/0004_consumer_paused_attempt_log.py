"""Consumers can be paused; every attempt row names its consumer and replay (filled in here for the
rows already there) and keeps the start of the consumer's answer; test sends have no delivery."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('replay', '0003_replay_selection'),
    ]

    operations = [
        migrations.AddField(
            model_name='consumer',
            name='paused',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='consumer',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='replay.consumer'),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='replay',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='replay.replay'),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='response',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.AlterField(
            model_name='deliveryattempt',
            name='delivery',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='replay.delivery'),
        ),
        migrations.RunSQL(
            "UPDATE dashboard_deliveryattempt SET "
            "consumer_id = (SELECT d.consumer_id FROM dashboard_delivery d WHERE d.id = dashboard_deliveryattempt.delivery_id), "
            "replay_id = (SELECT d.replay_id FROM dashboard_delivery d WHERE d.id = dashboard_deliveryattempt.delivery_id)",
            migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name='deliveryattempt',
            index=models.Index(fields=['consumer', 'id'], name='attempt_consumer_id'),
        ),
        migrations.AddIndex(
            model_name='deliveryattempt',
            index=models.Index(fields=['replay', 'id'], name='attempt_replay_id'),
        ),
    ]
