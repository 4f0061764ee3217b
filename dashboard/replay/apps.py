from django.apps import AppConfig


class ReplayConfig(AppConfig):
    """Consumers, replays and their deliveries."""

    name = "dashboard.replay"
    label = "replay"
    verbose_name = "Replay"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background, metrics

        # Registered after the embedded worker that runs replays, so stopped before it: the runs are
        # told to stop at their next delivery boundary, and the worker's stop waits for them.
        background.register("replay runs", stop=_stop_runs)
        metrics.register_gauge(
            "eventscope_replay_dead_letters",
            "Replay deliveries given up on (dead letters), not re-driven.",
            _dead_letters,
        )
        metrics.register_gauge("eventscope_replays_running", "Replays running or waiting to start.", _running)


def _dead_letters() -> int:
    from django.db.models import Sum

    from dashboard.replay.models import Replay

    # Each replay keeps its dead letters' count (a re-drive counts them again): one small table.
    return int(Replay.objects.aggregate(dead=Sum("failed"))["dead"] or 0)


def _running() -> int:
    from dashboard.replay.models import Replay

    return Replay.objects.filter(state__in=(Replay.PENDING, Replay.RUNNING)).count()


def _stop_runs(timeout: float) -> bool:
    """Tell this process's replay runs to stop (returns at once; see ``engine.stop_runs``)."""
    from dashboard.replay import engine

    engine.stop_runs()
    return True
