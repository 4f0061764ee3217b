from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Stored events, the canonical envelope, event queries."""

    name = "dashboard.events"
    label = "events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"
