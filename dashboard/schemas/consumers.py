"""The consumers of an event type: the services whose spans processed its events, by version.

A span *processed* an event when it links to the event's publishing span (the span the event's
``parent_span_id`` names, in its trace), or is a child of that span in the same trace, from another
service than the publisher's (or of kind ``consumer``): the publisher's own child spans are its
sending, not someone's reading. This is the service map's definition of an event edge.

Computed when asked, from the stored events and spans, and bounded: the latest ``MAX_VERSIONS``
versions, and per version at most ``SAMPLE_EVENTS`` / versions of its newest events (at least
``MIN_PER_VERSION``). A version's events are those stored from its first event up to the next
version's first (stored ids grow in arrival order), as ingest counts them. Every query goes through an
index: events by ``(source, detail_type, id)``, spans by ``(trace_id, span_id)``, links by
``linked_trace_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.core.spans import SPAN_KINDS, format_ns
from dashboard.events.models import Event
from dashboard.schemas.models import Schema, SchemaVersion
from tracing.models import Span, SpanLink

MAX_VERSIONS = 20
SAMPLE_EVENTS = 2000
MIN_PER_VERSION = 20
CONSUMER_KIND = SPAN_KINDS.index("consumer")


@dataclass
class _Service:
    versions: set[int] = field(default_factory=set)
    spans: dict[int, int] = field(default_factory=dict)  # version -> processing spans
    errors: dict[int, int] = field(default_factory=dict)
    last_ns: int = 0


def _events_by_version(schema: Schema, versions: Sequence[SchemaVersion]) -> dict[tuple[str, str], int]:
    """(trace id, publishing span id) -> version, for a bounded sample of each version's events."""
    looked = list(versions)[-MAX_VERSIONS:]
    per_version = max(MIN_PER_VERSION, SAMPLE_EVENTS // max(len(looked), 1))
    bounds = {version.number: version.first_event_id for version in versions}
    published: dict[tuple[str, str], int] = {}
    for version in looked:
        query = Event.objects.filter(
            source=schema.source, detail_type=schema.detail_type, id__gte=version.first_event_id
        )
        following = bounds.get(version.number + 1)
        if following:
            query = query.filter(id__lt=following)
        for trace_id, span_id in query.order_by("-id").values_list("trace_id", "parent_span_id")[:per_version]:
            if trace_id and span_id:
                published.setdefault((trace_id, span_id), version.number)
    return published


def _processing_spans(published: dict[tuple[str, str], int]) -> list[tuple[dict[str, Any], int]]:
    """The spans that processed the published events, each with the version of its event."""
    traces = sorted({trace_id for trace_id, _ in published})
    span_ids = sorted({span_id for _, span_id in published})
    fields = ("trace_id", "span_id", "parent_span_id", "service", "kind", "status_code", "start_ns")
    publishing = Span.objects.filter(trace_id__in=traces, span_id__in=span_ids).values_list(
        "trace_id", "span_id", "service"
    )
    publishers = {(trace_id, span_id): service for trace_id, span_id, service in publishing}
    found: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
    for row in Span.objects.filter(trace_id__in=traces, parent_span_id__in=span_ids).values(*fields):
        version = published.get((row["trace_id"], row["parent_span_id"]))
        if version is None:
            continue
        publisher = publishers.get((row["trace_id"], row["parent_span_id"]))
        if row["service"] != publisher or row["kind"] == CONSUMER_KIND:
            found[(row["trace_id"], row["span_id"])] = (row, version)
    linking: dict[tuple[str, str], int] = {}
    for trace_id, span_id, linked_trace, linked_span in SpanLink.objects.filter(
        linked_trace_id__in=traces, linked_span_id__in=span_ids
    ).values_list("trace_id", "span_id", "linked_trace_id", "linked_span_id"):
        version = published.get((linked_trace, linked_span))
        if version is not None:
            linking[(trace_id, span_id)] = max(version, linking.get((trace_id, span_id), 0))
    if linking:
        link_traces = sorted({trace_id for trace_id, _ in linking})
        link_spans = sorted({span_id for _, span_id in linking})
        for row in Span.objects.filter(trace_id__in=link_traces, span_id__in=link_spans).values(*fields):
            version = linking.get((row["trace_id"], row["span_id"]))
            if version is not None:
                found[(row["trace_id"], row["span_id"])] = (row, version)
    return list(found.values())


def _rate(spans: int, errors: int) -> dict[str, Any]:
    return {"spans": spans, "errors": errors, "error_rate": round(errors / spans, 4) if spans else None}


def consumers_of(
    schema: Schema, versions: Sequence[SchemaVersion]
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """The type's consumers, ``[{"service", "versions", "spans", "errors", "last_seen"}]`` (most
    spans first), and for each breaking version the consumers' ``impact``: ``[{"service", "seen"
    (it processed events of that version or later), "before", "after"`` (processing spans, errors and
    error rate for events of the versions before it, and of it and later)``, "started_failing"}]``."""
    if not versions:
        return [], {}
    published = _events_by_version(schema, versions)
    services: dict[str, _Service] = {}
    if published:
        for row, version in _processing_spans(published):
            service = services.setdefault(row["service"], _Service())
            service.versions.add(version)
            service.spans[version] = service.spans.get(version, 0) + 1
            if row["status_code"] == Span.STATUS_ERROR:
                service.errors[version] = service.errors.get(version, 0) + 1
            service.last_ns = max(service.last_ns, row["start_ns"])
    consumers = [
        {
            "service": name,
            "versions": sorted(service.versions),
            "spans": sum(service.spans.values()),
            "errors": sum(service.errors.values()),
            "last_seen": format_ns(service.last_ns) if service.last_ns else None,
        }
        for name, service in sorted(services.items(), key=lambda item: (-sum(item[1].spans.values()), item[0]))
    ]
    impact: dict[int, list[dict[str, Any]]] = {}
    for changed in versions:
        if changed.kind != SchemaVersion.BREAKING:
            continue
        entries = []
        for name, service in sorted(services.items()):
            before = [n for n in service.spans if n < changed.number]
            after = [n for n in service.spans if n >= changed.number]
            before_rate = _rate(sum(service.spans[n] for n in before), sum(service.errors.get(n, 0) for n in before))
            after_rate = _rate(sum(service.spans[n] for n in after), sum(service.errors.get(n, 0) for n in after))
            entries.append(
                {
                    "service": name,
                    "seen": bool(after),
                    "before": before_rate,
                    "after": after_rate,
                    "started_failing": bool(after_rate["errors"])
                    and (after_rate["error_rate"] or 0) > (before_rate["error_rate"] or 0),
                }
            )
        impact[changed.number] = entries
    return consumers, impact
