from django.apps import AppConfig


class ReplayConfig(AppConfig):
    """Consumers, replays and their deliveries."""

    name = "dashboard.replay"
    label = "replay"
    verbose_name = "Replay"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.core import background, metrics

        # Registered after the embedded worker that runs replays, so stopped before it (and before the
        # other services): the runs stop at their next delivery boundary, and are waited for.
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
    """Tell this process's replay runs to stop (see ``engine.stop_runs``) and wait for them to
    record what they sent and give their replays up. They wait first, before the other services
    stop: a run that had to wait for the shutdown grace to be shared out would be cut off with its
    lease held, and its replay would restart only once the lease expired."""
    from dashboard.replay import engine

    engine.stop_runs()
    return engine.wait_runs(timeout)
