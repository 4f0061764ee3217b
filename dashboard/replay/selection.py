"""What a replay delivers when a person found its events instead of naming a time range.

``POST /api/replays`` takes exactly one of: a time range (``since``, ``until``), ``event_ids``
(stored ids), ``idempotency_key``, ``trace_id`` or ``transaction`` (``{"lifecycle", "key"}``).
A selection is resolved here, once, to a fixed list of stored ids in the order every replay
delivers in (the events' time, then stored id); the replay's deliveries are planned from that
list when it is created (``dashboard.replay.plan.plan_selected``), so a replay resumed after a
crash delivers exactly what was selected, even if more events with that key or trace arrive later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dashboard.core.errors import Problem
from dashboard.core.trace_context import parse_pasted_trace_id
from dashboard.events.models import Event
from dashboard.lifecycles.detail import transaction_event_ids
from dashboard.replay.plan import PAGE, WALK_FIELDS

# Ids one request may list (a page of search results is at most 500).
MAX_EVENT_IDS = 1000
# Events a key, trace or transaction may select; more is a time range's job (it pages the archive).
MAX_SELECTED = 10_000
KINDS = ("event_ids", "idempotency_key", "trace_id", "transaction")
_STORED_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}\Z")
_SHOWN = 10  # unknown ids named in an error


class SelectionError(Problem, ValueError):
    """A selection that cannot be resolved; ``status`` 400 (malformed, too big) or 404 (finds nothing)."""

    def __init__(self, message: str, *, status: int = 400, where: str | None = None) -> None:
        super().__init__(message, code="not_found" if status == 404 else "invalid_request", where=where)
        self.status = status


@dataclass(frozen=True, slots=True)
class Found:
    """A resolved selection: ``describe`` is what the replay shows of it (``{"kind", <kind's
    fields>, "events"}``), ``ids`` the stored ids in delivery order."""

    describe: dict[str, Any]
    ids: list[str]


def selection_kinds(document: dict[str, Any]) -> list[str]:
    """The selection kinds ``document`` names (a present, non-null field); ``time range`` for
    ``since``/``until``."""
    kinds = [kind for kind in KINDS if document.get(kind) is not None]
    if document.get("since") is not None or document.get("until") is not None:
        kinds.insert(0, "time range")
    return kinds


def _ordered(query: Any, what: str) -> list[str]:
    ids = list(query.order_by("time", "id").values_list("id", flat=True)[: MAX_SELECTED + 1])
    if len(ids) > MAX_SELECTED:
        raise SelectionError(f"{what} selects more than {MAX_SELECTED} events: replay a time range instead.")
    return ids


def _event_ids(value: Any) -> Found:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SelectionError("'event_ids' must be a non-empty list of stored event ids.", where="event_ids")
    if len(value) > MAX_EVENT_IDS:
        raise SelectionError(f"'event_ids' lists more than {MAX_EVENT_IDS} ids.", where="event_ids")
    wanted = list(dict.fromkeys(value))  # a repeated id is one event, delivered once
    known = set(Event.objects.filter(pk__in=[v for v in wanted if _STORED_ID.match(v)]).values_list("id", flat=True))
    unknown = [v for v in wanted if v not in known]
    if unknown:
        shown = ", ".join(repr(v[:40]) for v in unknown[:_SHOWN])
        more = f" and {len(unknown) - _SHOWN} more" if len(unknown) > _SHOWN else ""
        raise SelectionError(f"Unknown event id(s): {shown}{more}.", where="event_ids")
    ids = _ordered(Event.objects.filter(pk__in=wanted), "'event_ids'")
    return Found({"kind": "event_ids", "events": len(ids)}, ids)


def _idempotency_key(value: Any) -> Found:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise SelectionError("'idempotency_key' must be a string of 1-256 characters.", where="idempotency_key")
    ids = _ordered(Event.objects.filter(idempotency_key=value), "The key")
    if not ids:
        raise SelectionError(f"No events with idempotency key {value!r}.", status=404, where="idempotency_key")
    return Found({"kind": "idempotency_key", "idempotency_key": value, "events": len(ids)}, ids)


def _trace_id(value: Any) -> Found:
    trace_id = parse_pasted_trace_id(value) if isinstance(value, str) else None
    if trace_id is None:
        raise SelectionError(
            "'trace_id' must be a trace id: 32 hex digits (W3C) or 1-<8 hex>-<24 hex> (X-Ray).", where="trace_id"
        )
    ids = _ordered(Event.objects.filter(trace_id=trace_id), "The trace")
    if not ids:
        raise SelectionError(f"No events in trace {trace_id}.", status=404, where="trace_id")
    return Found({"kind": "trace_id", "trace_id": trace_id, "events": len(ids)}, ids)


def _transaction(value: Any) -> Found:
    if (
        not isinstance(value, dict)
        or set(value) != {"lifecycle", "key"}
        or not all(isinstance(value[f], str) and value[f] for f in ("lifecycle", "key"))
    ):
        raise SelectionError(
            '\'transaction\' must be {"lifecycle": name, "key": key} (two non-empty strings).', where="transaction"
        )
    try:
        ids = transaction_event_ids(value["lifecycle"], value["key"], MAX_SELECTED + 1)
    except Problem as err:
        raise SelectionError(err.message, status=404, where="transaction") from None
    if len(ids) > MAX_SELECTED:
        raise SelectionError(f"The transaction selects more than {MAX_SELECTED} events: replay a time range instead.")
    if not ids:
        raise SelectionError("The transaction has no stored events.", status=404, where="transaction")
    describe = {"kind": "transaction", "lifecycle": value["lifecycle"], "key": value["key"], "events": len(ids)}
    return Found(describe, ids)


_RESOLVERS = {
    "event_ids": _event_ids,
    "idempotency_key": _idempotency_key,
    "trace_id": _trace_id,
    "transaction": _transaction,
}


def resolve(kind: str, value: Any) -> Found:
    """The events ``kind`` (one of ``KINDS``) with ``value`` selects; SelectionError saying why not."""
    return _RESOLVERS[kind](value)


def selected_pages(ids: list[str], page: int = PAGE) -> Iterator[list[Event]]:
    """The events of ``ids`` in that order, in pages, with the fields a replay reads. An id whose
    event is gone since (retention) is left out."""
    for start in range(0, len(ids), page):
        chunk = ids[start : start + page]
        rows = {event.id: event for event in Event.objects.filter(pk__in=chunk).only(*WALK_FIELDS)}
        events = [rows[i] for i in chunk if i in rows]
        if events:
            yield events
