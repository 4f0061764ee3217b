from django.apps import AppConfig


class IngestConfig(AppConfig):
    """The ingest pipeline: decode, normalise, store, tell the observers."""

    name = "dashboard.ingest"
    label = "ingest"
    verbose_name = "Ingest"
    default_auto_field = "django.db.models.BigAutoField"
