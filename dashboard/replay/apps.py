from django.apps import AppConfig


class ReplayConfig(AppConfig):
    """Consumers, replays and their deliveries."""

    name = "dashboard.replay"
    label = "replay"
    verbose_name = "Replay"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background

        # Registered after the embedded worker that runs replays, so stopped before it: the runs are
        # told to stop at their next delivery boundary, and the worker's stop waits for them.
        background.register("replay runs", stop=_stop_runs)


def _stop_runs(timeout: float) -> bool:
    """Tell this process's replay runs to stop (returns at once; see ``engine.stop_runs``)."""
    from dashboard.replay import engine

    engine.stop_runs()
    return True
