"""The models that moved to their own apps (events, lifecycles, replay) leave this app's state.

State only: the tables keep their names (``db_table``) and their data; nothing is copied."""


from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0006_idempotency_records'),
        ('events', '0001_moved_here'),
        ('lifecycles', '0001_moved_here'),
        ('replay', '0001_moved_here'),
    ]

    operations = [
        # The tables are already there: only Django's picture of which app owns them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='delivery',
                    name='consumer',
                ),
                migrations.RemoveField(
                    model_name='replay',
                    name='consumers',
                ),
                migrations.RemoveField(
                    model_name='delivery',
                    name='event',
                ),
                migrations.RemoveField(
                    model_name='delivery',
                    name='replay',
                ),
                migrations.RemoveField(
                    model_name='deliveryattempt',
                    name='delivery',
                ),
                migrations.RemoveField(
                    model_name='transaction',
                    name='lifecycle',
                ),
                migrations.DeleteModel(
                    name='TrackingCursor',
                ),
                migrations.DeleteModel(
                    name='Consumer',
                ),
                migrations.DeleteModel(
                    name='Event',
                ),
                migrations.DeleteModel(
                    name='Replay',
                ),
                migrations.DeleteModel(
                    name='Delivery',
                ),
                migrations.DeleteModel(
                    name='DeliveryAttempt',
                ),
                migrations.DeleteModel(
                    name='Lifecycle',
                ),
                migrations.DeleteModel(
                    name='Transaction',
                ),
            ],
        ),
    ]
