"""Publishing a replay's progress to ``/ws/replays/<id>/`` (through the live layer)."""

from __future__ import annotations

from dashboard.live.publish import publish_replay_progress
from dashboard.replay.models import Replay
from dashboard.replay.shapes import replay_json


def publish(replay: Replay, *, rate: float | None = None) -> None:
    """Send ``replay``'s state as ``GET /api/replays/<id>`` shows it. Safe from any thread: the live
    layer hands the message to the server's event loop."""
    publish_replay_progress(replay.pk, replay_json(replay, rate=rate))
