"""How consumers, replays and deliveries look in the API, on the page and over ``/ws/replays/<id>/``."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from dashboard.core.url_credentials import masked
from dashboard.events.envelope import format_time
from dashboard.replay.broker_options import consumer_kind, target_fields
from dashboard.replay.models import Consumer, Delivery, DeliveryAttempt, Replay


def _time(value: Any) -> str | None:
    return format_time(value) if value is not None else None


def consumer_json(consumer: Consumer) -> dict[str, Any]:
    """A consumer; its secret is never shown, only whether it has one, nor a broker URL's password
    (``***``). ``kind`` and the broker options of that kind (``broker_options``) come beside the URL."""
    kind = consumer_kind(consumer.url)
    return {
        "id": consumer.pk,
        "name": consumer.name,
        "kind": kind,
        "url": masked(consumer.url),
        **target_fields(kind, consumer.target or {}),
        "pattern": consumer.pattern,
        "has_secret": bool(consumer.secret),
        "rate_per_second": consumer.rate_per_second,
        "paused": consumer.paused,
        "created_at": _time(consumer.created_at),
    }


def replay_json(replay: Replay, *, consumers: list[str] | None = None, rate: float | None = None) -> dict[str, Any]:
    """A replay's state and counters (docs/replay.md) with its progress: ``total`` deliveries expected
    (exact once ``planning_done``), ``rate`` (deliveries a second: the recent rate while a run
    reports it, else the average since it started) and ``eta_seconds``."""
    paused: list[str] = []
    if consumers is None:
        chosen = list(replay.consumers.all())
        consumers = [consumer.name for consumer in chosen]
        paused = [consumer.name for consumer in chosen if consumer.paused]
    done = replay.delivered + replay.failed
    if rate is None and replay.started_at is not None and replay.state == Replay.RUNNING:
        elapsed = (timezone.now() - replay.started_at).total_seconds()
        rate = done / elapsed if elapsed > 0 else None
    remaining = max(0, replay.total - done)
    eta = None
    if replay.state == Replay.RUNNING and rate and rate > 0:
        eta = round(remaining / rate, 1)
    return {
        "id": replay.pk,
        "name": replay.name,
        "state": replay.state,
        "since": _time(replay.since),
        "until": _time(replay.until),
        "pattern": replay.pattern,
        "selection": replay.selection,
        "consumers": consumers,
        # Its deliveries to these wait until they are resumed.
        "paused_consumers": paused,
        "rate_per_second": replay.rate_per_second,
        "matched": replay.matched,
        "delivered": replay.delivered,
        "failed": replay.failed,
        "skipped": replay.skipped,
        "total": replay.total,
        "planning_done": replay.walk_done,
        "last_replayed_time": _time(replay.last_replayed_time),
        "created_at": _time(replay.created_at),
        "started_at": _time(replay.started_at),
        "finished_at": _time(replay.finished_at),
        "rate": round(rate, 1) if rate is not None else None,
        "eta_seconds": eta,
        "error": replay.error or None,
        "links": {
            "self": f"/api/replays/{replay.pk}",
            "dead_letters": f"/api/replays/{replay.pk}/deliveries?state=dead",
        },
    }


def attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "at": _time(attempt.at),
        "status": attempt.status,
        "latency_ms": round(attempt.latency_ms, 2),
        "error": attempt.error or None,
        "outcome": attempt.outcome,
    }


def logged_attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    """An attempt as the attempts logs list it (``/api/consumers/<name>/attempts``,
    ``/api/replays/<id>/attempts``): which replay, event and consumer, and how it went. Precondition:
    ``delivery`` and ``consumer`` selected with it."""
    delivery = attempt.delivery
    return {
        "id": attempt.pk,
        "replay": attempt.replay_id,
        "delivery": attempt.delivery_id,
        "event": delivery.event_id if delivery is not None else None,
        "consumer": attempt.consumer.name if attempt.consumer is not None else None,
        "number": attempt.number,
        "at": _time(attempt.at),
        "status": attempt.status,
        "latency_ms": round(attempt.latency_ms, 2),
        "error": attempt.error or None,
        "response": attempt.response or None,
        "outcome": attempt.outcome,
    }


def delivery_json(delivery: Delivery, attempts: list[DeliveryAttempt] | None = None) -> dict[str, Any]:
    out = {
        "id": delivery.pk,
        "replay": delivery.replay_id,
        "event": delivery.event_id,
        "consumer": delivery.consumer.name,
        "seq": delivery.seq,
        "idempotency_key": delivery.idempotency_key or None,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error or None,
        "last_latency_ms": delivery.last_latency_ms,
        "next_attempt_at": _time(delivery.next_attempt_at),
        "delivered_at": _time(delivery.delivered_at),
        "updated_at": _time(delivery.updated_at),
    }
    if attempts is not None:
        out["attempt_log"] = [attempt_json(attempt) for attempt in attempts]
    return out
