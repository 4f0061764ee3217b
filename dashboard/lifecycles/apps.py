from django.apps import AppConfig


class LifecyclesConfig(AppConfig):
    """Lifecycles and their transaction records: tracked at ingest, folded, reported, swept."""

    name = "dashboard.lifecycles"
    label = "lifecycles"
    verbose_name = "Transactions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.ingest.observers import EVENTS
        from dashboard.lifecycles.observer import tracking_hooks

        EVENTS.register(tracking_hooks)
