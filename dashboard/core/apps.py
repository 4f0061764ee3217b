from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Tokens and auth, errors, ids, JSON helpers, health, settings checks: what every app stands on.

    Its label is ``dashboard``, the one the project's tables and migrations were born with: the
    migration history goes on here, and moved models keep their ``dashboard_*`` tables.
    """

    name = "dashboard.core"
    label = "dashboard"
    verbose_name = "Eventscope"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import after_setup_logger

        from dashboard.core import background, embedded_worker, logging_filters, worker_heartbeat
        from dashboard.core.checks import check_settings  # noqa: F401  (registers the system checks)

        # The embedded mode's task worker runs in the server's process, started with the server.
        background.register("embedded task worker", start=embedded_worker.start_if_embedded, stop=embedded_worker.stop)
        # Celery workers of the scaled mode tell readiness probes they are alive (through Redis).
        worker_heartbeat.connect()
        # Their routine lines (a task run, a beat entry sent) at DEBUG, as in the server.
        after_setup_logger.connect(logging_filters.quiet_celery_routine, dispatch_uid="eventscope-quiet-celery")
