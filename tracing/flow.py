"""A flow: the traces tied to one trace by span links, followed hop by hop in both directions.

Each hop of an event-driven system is usually its own trace (the consumer starts a new trace and
links back to the producer span). Following the links from a trace, both ways, gives the whole
flow — an order's checkout, payment, reservation and shipment — that the trace page draws as one
waterfall. The walk is bounded (hops, traces, spans), so a chatty topic cannot make a page
unbounded; what is left out stays one click away through the links.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from dashboard.events.models import Event
from dashboard.events.shapes import LIST_FIELDS, event_json
from tracing.assembly import span_json
from tracing.models import Span, SpanLink

MAX_HOPS = 6
MAX_TRACES = 24
MAX_SPANS = 3000


def flow_trace_ids(trace_id: str, max_hops: int = MAX_HOPS, max_traces: int = MAX_TRACES) -> list[str]:
    """``trace_id`` first, then the traces reached through span links (either end), nearest first.

    One query per hop; the walk stops at ``max_hops`` hops, ``max_traces`` traces, or when a hop
    finds nothing new.
    """
    seen = [trace_id]
    frontier = {trace_id}
    for _ in range(max_hops):
        rows = (
            SpanLink.objects.filter(Q(trace_id__in=frontier) | Q(linked_trace_id__in=frontier))
            .values_list("trace_id", "linked_trace_id")
            .distinct()[: max_traces * 20]
        )
        found = sorted({other for pair in rows for other in pair} - set(seen))
        room = max_traces - len(seen)
        frontier = set(found[:room])
        seen.extend(found[:room])
        if not frontier or len(seen) >= max_traces:
            break
    return seen


def flow_items(trace_ids: list[str]) -> dict[str, Any]:
    """Spans and events of ``trace_ids`` (two queries), in the API's shapes."""
    if not trace_ids:
        return {"traces": [], "spans": [], "events": []}
    spans = Span.objects.filter(trace_id__in=trace_ids).order_by("start_ns", "id")[:MAX_SPANS]
    events = Event.objects.filter(trace_id__in=trace_ids).only(*LIST_FIELDS).order_by("time", "id")[:MAX_SPANS]
    return {
        "traces": trace_ids,
        "spans": [span_json(span) for span in spans],
        "events": [event_json(event) for event in events],
    }
