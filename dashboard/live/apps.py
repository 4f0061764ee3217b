from django.apps import AppConfig


class LiveConfig(AppConfig):
    """Websockets, the per-process hub, after-commit publishing."""

    name = "dashboard.live"
    label = "live"
    verbose_name = "Live"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.ingest.observers import EVENTS
        from dashboard.live.publish import event_hooks

        EVENTS.register(event_hooks)
