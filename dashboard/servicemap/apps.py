from django.apps import AppConfig


class ServiceMapConfig(AppConfig):
    """The service map: edges between services from events and spans, rolled up as they arrive."""

    name = "dashboard.servicemap"
    label = "servicemap"
    verbose_name = "Service map"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background
        from dashboard.ingest.observers import EVENTS
        from dashboard.servicemap import folder
        from dashboard.servicemap.observer import event_hooks, span_hooks
        from tracing.store import SPANS

        # Each batch leaves a note in its own transaction; the folder thread folds it after the commit.
        EVENTS.register(event_hooks)
        SPANS.register(span_hooks)
        background.register("service map folder", start=folder.start, stop=folder.stop)
