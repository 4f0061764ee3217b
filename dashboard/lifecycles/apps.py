from django.apps import AppConfig


class LifecyclesConfig(AppConfig):
    """Lifecycles and their transaction records: tracked at ingest, folded, reported, swept."""

    name = "dashboard.lifecycles"
    label = "lifecycles"
    verbose_name = "Transactions"
    default_auto_field = "django.db.models.BigAutoField"
