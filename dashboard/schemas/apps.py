from django.apps import AppConfig


class SchemasConfig(AppConfig):
    """Event schemas discovered from the traffic: versions, breaking changes, pinning, consumers."""

    name = "dashboard.schemas"
    label = "schemas"
    verbose_name = "Schemas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.ingest.observers import EVENTS
        from dashboard.schemas.observer import discovery_hooks

        # Discovery and the pinned-version check observe ingest (observer.py).
        EVENTS.register(discovery_hooks)
