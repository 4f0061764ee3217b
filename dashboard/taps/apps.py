from django.apps import AppConfig


class TapsConfig(AppConfig):
    """Broker taps: RabbitMQ, NATS and Redis Streams traffic read and fed to ingest."""

    name = "dashboard.taps"
    label = "taps"
    verbose_name = "Broker taps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background
        from dashboard.taps import supervisor

        # The embedded mode runs taps in the server process; with REDIS_URL the Celery worker runs
        # them (tasks/taps.py), so the web processes stay stateless.
        background.register("broker taps", start=supervisor.start_in_server, stop=supervisor.stop)
