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

from django.db.models import Q, Sum
from django.utils import timezone

from dashboard.core.errors import Problem
from dashboard.core.spans import format_ns, status_name
from dashboard.events.models import Event
from dashboard.events.queries import time_param
from dashboard.servicemap import histogram
from dashboard.servicemap.fold import ERROR, MESSAGE_ID, fold_pending, time_ns
from dashboard.servicemap.models import EdgeBucket, ServiceBucket
from tracing.models import Span, SpanLink

DEFAULT_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=31)
MINUTE_NS = 60_000_000_000


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
    since = time_param(params, "since") or until - default
    if since >= until:
        raise Problem("since must be before until", code="invalid_parameter", where="since")
    if until - since > MAX_WINDOW:
        raise Problem("the window may span at most 31 days", code="invalid_parameter", where="since")
    return Window(since, until)


def _bucket_filter(first: int, end: int) -> Q:
    """Rows covering minutes ``[first, end)``: hour rows for the whole hours inside, minute rows for
    the rest."""
    hours_from, hours_to = -(-first // 60) * 60, end // 60 * 60
    if hours_from >= hours_to:
        return Q(width=1, minute__gte=first, minute__lt=end)
    return (
        Q(width=60, minute__gte=hours_from, minute__lt=hours_to)
        | Q(width=1, minute__gte=first, minute__lt=hours_from)
        | Q(width=1, minute__gte=hours_to, minute__lt=end)
    )


@dataclass
class _Edge:
    count: int = 0
    errors: int = 0
    duplicates: int = 0
    lags: dict[int, int] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    messaging: tuple[int, str, str] = (-1, "", "")  # the latest bucket's (minute, system, destination)
    samples: list[str] = field(default_factory=list)


def service_map(window: Window) -> dict[str, Any]:
    """The map of ``window`` (the shape of ``GET /api/servicemap``, docs/api.md)."""
    fold_pending()
    first, end = window.minutes
    buckets = _bucket_filter(first, end)
    services = {
        row["service"]: row
        for row in ServiceBucket.objects.filter(buckets)
        .values("service")
        .annotate(spans=Sum("spans"), errors=Sum("errors"))
        .order_by("service")
    }
    edges: dict[tuple[int, str, str, str], _Edge] = defaultdict(_Edge)
    rows = EdgeBucket.objects.filter(buckets).values_list(
        "kind", "source_service", "target_service", "via", "event_source", "minute", "count", "errors", "duplicates",
        "lags", "messaging_system", "messaging_destination", "samples",
    )  # fmt: skip
    for kind, source, target, via, event_source, minute, count, errors, duplicates, lags, system, dest, samples in rows:
        edge = edges[(kind, source, target, via)]
        edge.count += count
        edge.errors += errors
        edge.duplicates += duplicates
        if lags:
            histogram.merge(edge.lags, histogram.decode(lags))
        if event_source:
            edge.sources.add(event_source)
        if (system or dest) and minute > edge.messaging[0]:
            edge.messaging = (minute, system, dest)
        edge.samples.extend(trace for trace in samples or () if trace not in edge.samples)

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
            item["lag_ms"] = histogram.percentiles(edge.lags) or {"p50": None, "p95": None, "p99": None}
            item["sources"] = sorted(edge.sources)
        item["rate_per_minute"] = round(edge.count / minutes, 6)
        _, system, destination = edge.messaging
        item["messaging"] = {"system": system, "destination": destination} if system or destination else None
        item["traces"] = edge.samples[-5:]
        answer_edges.append(item)
        for name in (source, target):
            services.setdefault(name, {"service": name, "spans": 0, "errors": 0})
    return {
        "since": window.since.isoformat().replace("+00:00", "Z"),
        "until": window.until.isoformat().replace("+00:00", "Z"),
        "services": [
            {"name": name, "spans": row["spans"] or 0, "errors": row["errors"] or 0}
            for name, row in sorted(services.items())
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
