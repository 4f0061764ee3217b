from django.apps import AppConfig


class ReplayConfig(AppConfig):
    """Consumers, replays and their deliveries."""

    name = "dashboard.replay"
    label = "replay"
    verbose_name = "Replay"
    default_auto_field = "django.db.models.BigAutoField"
