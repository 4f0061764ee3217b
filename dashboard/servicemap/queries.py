"""Reading the service map: the services and edges of a time window (``GET /api/servicemap``, the
``/map/`` page, the overview's slowest edges), and the consumers of one event (its page).

A window is read from the rollups, never from the spans: whole hours inside it from the hour rows,
the minutes at its ends from the minute rows. A bucket counts when it starts inside the window, so a
window's ends are, in effect, rounded up to the minute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from dashboard.core.errors import Problem
from dashboard.core.spans import format_ns, status_name
from dashboard.events.models import Event
from dashboard.events.queries import time_param
from dashboard.servicemap import histogram
from dashboard.servicemap.fold import ERROR, MESSAGE_ID, MINUTE_NS, WIDTHS, fold_pending, time_ns
from dashboard.servicemap.models import EdgeBucket, ServiceBucket
from tracing.models import Span, SpanLink

DEFAULT_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=31)
WIDTHS_WIDEST_FIRST = tuple(sorted(WIDTHS, reverse=True))


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def minutes(self) -> tuple[int, int]:
        """The buckets that start inside the window: minutes since the epoch, ``[first, end)``."""
        return -(-time_ns(self.since) // MINUTE_NS), -(-time_ns(self.until) // MINUTE_NS)


def window_params(params: Mapping[str, str], default: timedelta = DEFAULT_WINDOW) -> Window:
    """``since`` and ``until`` (RFC 3339); the last hour by default, ``until`` now by default."""
    until = time_param(params, "until") or timezone.now()
    try:
        since = time_param(params, "since") or until - default
    except OverflowError:  # an until in the first hour of year 1
        raise Problem("until is too early", code="invalid_parameter", where="until") from None
    if since >= until:
        raise Problem("since must be before until", code="invalid_parameter", where="since")
    if until - since > MAX_WINDOW:
        raise Problem("the window may span at most 31 days", code="invalid_parameter", where="since")
    return Window(since, until)


def _bucket_ranges(first: int, end: int, widths: tuple[int, ...] = WIDTHS_WIDEST_FIRST) -> list[tuple[int, int, int]]:
    """The rows covering minutes ``[first, end)``, as ``(width, from, to)`` ranges: the widest buckets
    that fit inside, the narrower ones for what is left at either end (an hour-aligned day: 24 hour
    rows; any window: at most 9 one-minute and 5 ten-minute rows at each end besides)."""
    if first >= end:
        return []
    width, narrower = widths[0], widths[1:]
    if not narrower:
        return [(width, first, end)]
    inner_from, inner_to = -(-first // width) * width, end // width * width
    if inner_from >= inner_to:
        return _bucket_ranges(first, end, narrower)
    return [
        *_bucket_ranges(first, inner_from, narrower),
        (width, inner_from, inner_to),
        *_bucket_ranges(inner_to, end, narrower),
    ]


def _rows(model: type[EdgeBucket] | type[ServiceBucket], first: int, end: int, *columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of the rows covering ``[first, end)``, in one statement (a UNION ALL of index
    ranges). JSON columns come as text, decoded by the caller with orjson (faster than the field's)."""
    texts = {name: Cast(name, TextField()) for name in columns if name in ("lags", "samples")}
    fields = [f"{name}_text" if name in texts else name for name in columns]
    parts = [
        model.objects.filter(width=width, minute__gte=lo, minute__lt=hi)
        .annotate(**{f"{name}_text": text for name, text in texts.items()})
        .values_list(*fields)
        for width, lo, hi in _bucket_ranges(first, end)
    ]
    if not parts:
        return []
    query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return list(query)


@dataclass
class _Edge:
    count: int = 0
    errors: int = 0
    duplicates: int = 0
    lags: dict[str, int] = field(default_factory=dict)  # histogram buckets as stored (text keys)
    sources: set[str] = field(default_factory=set)
    # The latest bucket's (minute, messaging system, destination) and (minute, operation) that name them.
    messaging: tuple[int, str, str] = (-1, "", "")
    operation: tuple[int, str] = (-1, "")
    samples: list[str] = field(default_factory=list)


def service_map(window: Window) -> dict[str, Any]:
    """The map of ``window`` (the shape of ``GET /api/servicemap``, docs/api.md)."""
    fold_pending()
    first, end = window.minutes
    services: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[int, str, str, str], _Edge] = defaultdict(_Edge)
    for name, spans, errors in _rows(ServiceBucket, first, end, "service", "spans", "errors"):
        row = services.setdefault(name, {"spans": 0, "errors": 0})
        row["spans"] += spans
        row["errors"] += errors
    rows = _rows(
        EdgeBucket, first, end, "kind", "source_service", "target_service", "via", "event_source", "minute", "count",
        "errors", "duplicates", "lags", "messaging_system", "messaging_destination", "messaging_operation", "samples",
    )  # fmt: skip
    loads = orjson.loads
    for kind, source, target, via, event_source, minute, count, errors, dups, lags, system, dest, op, samples in rows:
        edge = edges[(kind, source, target, via)]
        edge.count += count
        edge.errors += errors
        edge.duplicates += dups
        if lags and lags != "{}":
            merged = edge.lags
            for index, times in loads(lags).items():  # text keys: decoded once, at the end
                merged[index] = merged.get(index, 0) + times
        if event_source:
            edge.sources.add(event_source)
        if (system or dest) and minute > edge.messaging[0]:
            edge.messaging = (minute, system, dest)
        if op and minute > edge.operation[0]:
            edge.operation = (minute, op)
        if samples and len(edge.samples) < 20 and samples != "[]":
            edge.samples.extend(trace for trace in loads(samples) if trace not in edge.samples)

    minutes = max(1, end - first)
    answer_edges = []
    for (kind, source, target, via), edge in sorted(
        edges.items(), key=lambda item: (item[0][1], item[0][2], item[0][3])
    ):
        item: dict[str, Any] = {
            "from": source,
            "to": target,
            "via": via,
            "kind": EdgeBucket.KINDS.get(kind, str(kind)),
            "count": edge.count,
            "errors": edge.errors,
            "duplicates": edge.duplicates,
        }
        if kind == EdgeBucket.EVENT:
            lags = histogram.decode(edge.lags)
            item["lag_ms"] = histogram.percentiles(lags) or {"p50": None, "p95": None, "p99": None}
            item["sources"] = sorted(edge.sources)
        item["rate_per_minute"] = round(edge.count / minutes, 6)
        (_, system, destination), (_, operation) = edge.messaging, edge.operation
        item["messaging"] = (
            {"system": system, "destination": destination, "operation": operation}
            if system or destination or operation
            else None
        )
        item["traces"] = edge.samples[-5:]
        answer_edges.append(item)
        for name in (source, target):
            services.setdefault(name, {"spans": 0, "errors": 0})
    return {
        "since": window.since.isoformat().replace("+00:00", "Z"),
        "until": window.until.isoformat().replace("+00:00", "Z"),
        "services": [
            {"name": name, "spans": row["spans"], "errors": row["errors"]} for name, row in sorted(services.items())
        ],
        "edges": answer_edges,
    }


def slowest_edges(limit: int = 5, window: Window | None = None) -> list[dict[str, Any]]:
    """The event edges of the last hour with the longest p95 lag, slowest first."""
    edges = service_map(window or window_params({}))["edges"]
    timed = [edge for edge in edges if edge["kind"] == "event" and edge["lag_ms"]["p95"] is not None]
    return sorted(timed, key=lambda edge: -edge["lag_ms"]["p95"])[:limit]


_LOOK_UP = Span()  # event_consumers' default: find the publishing span


def event_consumers(event: Event, publisher: Span | None = _LOOK_UP) -> list[dict[str, Any]]:
    """The spans that processed ``event`` (linked to its publishing span, or children of it in another
    service), each with its lag: its start minus the event's time. Oldest first. ``publisher``: the
    publishing span when the caller has it (None: not stored)."""
    if not event.trace_id or not event.parent_span_id:
        return []
    if publisher is _LOOK_UP:
        publisher = Span.objects.filter(trace_id=event.trace_id, span_id=event.parent_span_id).first()
    named: dict[tuple[str, str], str | None] = {}
    for trace, span_id, attributes in SpanLink.objects.filter(
        linked_trace_id=event.trace_id, linked_span_id=event.parent_span_id
    ).values_list("trace_id", "span_id", "attributes"):
        message = attributes.get(MESSAGE_ID) if isinstance(attributes, dict) else None
        named[(trace, span_id)] = str(message) if message else None
    # A link naming another event published from the same span delivered that one (see fold).
    others: set[str] = set()
    if any(message and message != event.event_id for message in named.values()):
        others = set(
            Event.objects.filter(trace_id=event.trace_id, parent_span_id=event.parent_span_id)
            .exclude(event_id=event.event_id)
            .values_list("event_id", flat=True)
        )
    keys = {key for key, message in named.items() if message not in others}
    consumers = _spans(keys)
    children = Span.objects.filter(trace_id=event.trace_id, parent_span_id=event.parent_span_id)
    if publisher is not None:
        children = children.exclude(service=publisher.service)
    consumers += list(children)
    sent_ns = time_ns(event.time)
    rows = [
        {
            "service": span.service,
            "name": span.name,
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "start": format_ns(span.start_ns),
            "lag_ms": round((span.start_ns - sent_ns) / 1_000_000, 3),
            "status": status_name(span.status_code),
            "error": span.status_code == ERROR,
        }
        for span in {(span.trace_id, span.span_id): span for span in consumers}.values()
    ]
    return sorted(rows, key=lambda row: (row["start"], row["service"]))


def _spans(keys: set[tuple[str, str]]) -> list[Span]:
    if not keys:
        return []
    found = Span.objects.filter(trace_id__in={trace for trace, _ in keys}, span_id__in={span for _, span in keys})
    return [span for span in found if (span.trace_id, span.span_id) in keys]
