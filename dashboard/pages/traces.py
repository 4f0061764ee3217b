"""``/traces/<trace_id>/``: the flow — span waterfall, the events on it, links both ways, linked traces.

The page carries the assembled trace (the same shape as ``GET /api/traces/<id>``) as ``json_script``
data; ``static/js/trace.js`` draws the waterfall from it and keeps it current over
``/ws/traces/<trace_id>/``. Summary, linked traces and the event list are rendered on the server.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.core.bulk import MAX_OR_TERMS, any_pair
from dashboard.core.trace_context import parse_trace_id
from tracing.assembly import assemble_trace
from tracing.flow import flow_items, flow_trace_ids
from tracing.models import Span, SpanLink

MAX_LINKS = 1000


def _links_into(trace_id: str) -> list[dict[str, str]]:
    """Links that spans of other traces hold to spans of this one (the consumers of its messages)."""
    rows = (
        SpanLink.objects.filter(linked_trace_id=trace_id)
        .exclude(trace_id=trace_id)
        .values_list("linked_span_id", "trace_id", "span_id")[:MAX_LINKS]
    )
    return [
        {"span_id": mine, "trace_id": other_trace, "linked_span_id": other_span}
        for mine, other_trace, other_span in rows
    ]


def _peer_spans(pairs: set[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Name, service and status of the spans at the other end of links, keyed ``trace_id/span_id``."""
    if not pairs:
        return {}
    query = any_pair(sorted(pairs)[:MAX_OR_TERMS], "trace_id", "span_id")
    return {
        f"{span.trace_id}/{span.span_id}": {
            "name": span.name,
            "service": span.service,
            "error": span.status_code == Span.STATUS_ERROR,
        }
        for span in Span.objects.filter(query).only("trace_id", "span_id", "name", "service", "status_code")
    }


def _summary(trace: dict[str, Any]) -> dict[str, Any]:
    spans = trace["spans"]
    services = Counter(span["service"] for span in spans)
    duration_ms = (max(s["end_ns"] for s in spans) - min(s["start_ns"] for s in spans)) / 1e6 if spans else 0.0
    roots = [s for s in spans if not s["parent_span_id"]]
    return {
        "services": sorted(services.items()),
        "span_count": len(spans),
        "event_count": len(trace["events"]),
        "error_count": sum(1 for s in spans if s["status"]["code"] == "error"),
        "duration_ms": duration_ms,
        "root": roots[0] if roots else (spans[0] if spans else None),
        "start": spans[0]["start"] if spans else (trace["events"][0]["time"] if trace["events"] else ""),
    }


@login_required
def trace_page(request: HttpRequest, trace_id: str) -> HttpResponse:
    parsed = parse_trace_id(trace_id)
    if parsed is None:
        return render(
            request, "dashboard/trace.html", {"trace_id": trace_id.lower(), "invalid": True, "trace": None}, status=400
        )
    trace_id = parsed
    trace = assemble_trace(trace_id)
    status = 200
    if trace is None:
        # Nothing stored yet: the page still opens and fills in live as the trace arrives.
        status = 404
        trace = {"trace_id": trace_id, "spans": [], "events": [], "logs": [], "linked_traces": []}
    incoming = _links_into(trace_id) if status == 200 else []
    pairs = {(link["trace_id"], link["span_id"]) for span in trace["spans"] for link in span["links"]}
    pairs |= {(link["trace_id"], link["linked_span_id"]) for link in incoming}
    trace["incoming_links"] = incoming
    trace["peers"] = _peer_spans(pairs)
    # The whole flow (traces tied by links, both ways) is drawn unless ?flow=0 asks for this trace alone.
    whole_flow = request.GET.get("flow") != "0"
    trace["flow"] = flow_items(flow_trace_ids(trace_id)[1:]) if whole_flow and status == 200 else None
    events = [{**event, "detail_type": event["detail-type"]} for event in trace["events"]]
    return render(
        request,
        "dashboard/trace.html",
        {
            "trace_id": trace_id,
            "trace": trace,
            "summary": _summary(trace),
            "events": events,
            "found": status == 200,
            "whole_flow": whole_flow,
            "flow_traces": len(trace["flow"]["traces"]) + 1 if trace["flow"] else 1,
        },
        status=status,
    )
