"""Building an archive and replays for the replay tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from dashboard.core.ids import new_ids
from dashboard.events.models import Event
from dashboard.replay.models import Consumer, Replay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def archive_event(
    seconds: float, *, detail_type: str = "OrderCreated", source: str = "shop.orders", key: str = "", **detail: Any
) -> Event:
    """Store one event whose time is ``seconds`` after T0 (the stored id follows arrival order)."""
    stored = new_ids(1)[0]
    return Event.objects.create(
        id=stored,
        event_id=f"e-{stored}",
        source=source,
        detail_type=detail_type,
        time=T0 + timedelta(seconds=seconds),
        detail={"n": seconds, **detail},
        raw="{}",
        received_at=timezone.now(),
        format="native",
        idempotency_key=key,
        account="000000000000",
        region="local",
    )


def make_consumer(name: str, url: str, **fields: Any) -> Consumer:
    return Consumer.objects.create(name=name, url=url, **fields)


def make_replay(consumers: list[Consumer], *, name: str = "fix", pattern: Any = None, **fields: Any) -> Replay:
    replay = Replay.objects.create(name=name, since=T0, until=T0 + timedelta(days=1), pattern=pattern, **fields)
    replay.consumers.set(consumers)
    return replay
