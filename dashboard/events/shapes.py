"""How an event looks wherever the API lists one (docs/api.md), and the detail view of one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from dashboard.events.envelope import canonical_envelope, format_time
from dashboard.events.models import Event

# The columns needed to list events; the raw body and extra attributes stay behind until asked for.
LIST_FIELDS = (
    "id", "event_id", "source", "detail_type", "time", "resources", "detail", "trace_id", "parent_span_id",
    "idempotency_key", "received_at", "format", "replay_name", "schema_error",
)  # fmt: skip


def flat_event(
    *,
    stored_id: str,
    event_id: str,
    source: str,
    detail_type: str,
    time: datetime,
    resources: list[str],
    detail: Any,
    trace_id: str,
    parent_span_id: str,
    idempotency_key: str,
    received_at: str,
    format: str,
    replay_name: str,
    schema_error: str | None = None,
) -> dict[str, Any]:
    """The flat event shape of docs/api.md, the one place it is built (the API, pages and live tail).

    Keywords only: thirteen values in a row are easy to misplace. ``schema_error`` is the check
    against the type's pinned schema version (None: nothing was pinned; "": it validated), shown as
    ``schema_valid`` and ``schema_error``.
    """
    return {
        "id": stored_id,
        "event_id": event_id,
        "source": source,
        "detail-type": detail_type,
        "time": format_time(time),
        "resources": resources,
        "detail": detail,
        "trace_id": trace_id or None,
        "parent_span_id": parent_span_id or None,
        "idempotency_key": idempotency_key or None,
        "received_at": received_at,
        "format": format,
        "replay_name": replay_name or None,
        "schema_valid": None if schema_error is None else not schema_error,
        "schema_error": schema_error or None,
    }


def event_json(event: Event) -> dict[str, Any]:
    return flat_event(
        stored_id=event.id,
        event_id=event.event_id,
        source=event.source,
        detail_type=event.detail_type,
        time=event.time,
        resources=event.resources,
        detail=event.detail,
        trace_id=event.trace_id,
        parent_span_id=event.parent_span_id,
        idempotency_key=event.idempotency_key,
        received_at=format_time(event.received_at),
        format=event.format,
        replay_name=event.replay_name,
        schema_error=event.schema_error,
    )


def envelope_of(event: Event) -> dict[str, Any]:
    return canonical_envelope(
        event_id=event.event_id,
        source=event.source,
        detail_type=event.detail_type,
        time=event.time,
        account=event.account,
        region=event.region,
        resources=event.resources,
        detail=event.detail,
    )


def original_body(event: Event) -> Any:
    """The entry as received: JSON when it was JSON, else the text."""
    try:
        return orjson.loads(event.raw)
    except orjson.JSONDecodeError:
        return event.raw


def event_detail_json(event: Event) -> dict[str, Any]:
    out = event_json(event)
    out["envelope"] = envelope_of(event)
    out["extra"] = event.extra
    out["original"] = original_body(event)
    out["links"] = {
        "self": f"/api/events/{event.id}",
        "page": f"/events/{event.id}/",
        "trace": f"/api/traces/{event.trace_id}" if event.trace_id else None,
        "key": f"/api/keys/{event.idempotency_key}" if event.idempotency_key else None,
    }
    return out
