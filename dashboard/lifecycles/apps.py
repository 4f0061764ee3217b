from django.apps import AppConfig


class LifecyclesConfig(AppConfig):
    """Lifecycles and their transaction records: tracked at ingest, folded, reported, swept."""

    name = "dashboard.lifecycles"
    label = "lifecycles"
    verbose_name = "Transactions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background, metrics
        from dashboard.ingest.observers import EVENTS
        from dashboard.lifecycles import fold, folder
        from dashboard.lifecycles.observer import tracking_hooks

        # Tracking observes ingest: matches stored with each event, merged or folded (observer.py).
        EVENTS.register(tracking_hooks)
        # SQLite: the thread that folds tracked events runs in the server's process, with the server.
        background.register("transaction folder", start=folder.start, stop=folder.stop)
        metrics.register_gauge(
            "eventscope_lifecycle_fold_lag_events",
            "Stored events not yet folded into transaction records (SQLite; the report folds them when read).",
            fold.lag,
        )
