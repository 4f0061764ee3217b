import dashboard.core.jsonfield
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("replay", "0002_delivery_plural"),
    ]

    operations = [
        migrations.AddField(
            model_name="replay",
            name="selection",
            field=dashboard.core.jsonfield.FastJSONField(blank=True, default=None, null=True),
        ),
    ]
