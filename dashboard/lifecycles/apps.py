from django.apps import AppConfig


class LifecyclesConfig(AppConfig):
    """Lifecycles and their transaction records: tracked at ingest, folded, reported, swept."""

    name = "dashboard.lifecycles"
    label = "lifecycles"
    verbose_name = "Transactions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background
        from dashboard.lifecycles import folder

        # SQLite: the thread that folds tracked events runs in the server's process, with the server.
        background.register("transaction folder", start=folder.start, stop=folder.stop)
