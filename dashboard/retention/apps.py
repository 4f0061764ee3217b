from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Purging what is older than the retention settings (``manage.py purge``, the periodic task)."""

    name = "dashboard.retention"
    label = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        from dashboard.retention import checks  # noqa: F401  (registers the settings checks)
