"""``/traces/<trace_id>/``: the flow — span waterfall, the events on it, links both ways, linked traces,
the transactions its events belong to.

The page shows one scope at a time: the whole flow (this trace and the traces tied to it by span
links, the default) or this trace alone (``?flow=0``). Its header counts, event table and
transactions describe the scope the waterfall draws. The page carries everything it needs for both
scopes (``page_data``: the assembled trace as ``GET /api/traces/<id>`` shows it, plus the rest of the
flow, the links into it, the link ends' names and the transactions) as ``json_script`` data;
``static/js/trace.js`` draws the waterfall from it, switches scope without a reload, keeps it all
current over ``/ws/traces/<trace_id>/`` and re-reads ``/traces/<trace_id>/data`` (the same data as
JSON) after live items and reconnects. The header, events and transactions are also rendered here,
for the first paint and for readers without scripts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.core.bulk import MAX_OR_TERMS, any_pair
from dashboard.core.http import error_response, json_response
from dashboard.core.trace_context import parse_trace_id
from dashboard.lifecycles.lookup import transactions_on_traces
from dashboard.pages.traces_search import duration_text
from tracing.assembly import assemble_trace
from tracing.flow import flow_items, flow_trace_ids
from tracing.models import Span, SpanLink

MAX_LINKS = 1000
INVALID = "A trace id is 32 hexadecimal characters."


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


def page_data(trace_id: str) -> dict[str, Any] | None:
    """What the page draws both scopes from: the trace as the API assembles it, with
    ``incoming_links``, ``peers`` (link ends outside the flow), ``flow`` (the other traces of the
    flow, their spans and events) and ``transactions`` (``lifecycles.lookup.transactions_on_traces``
    over the whole flow). None when nothing of the trace is stored."""
    trace = assemble_trace(trace_id)
    if trace is None:
        return None
    flow = flow_items(flow_trace_ids(trace_id)[1:])
    incoming = _links_into(trace_id)
    drawn = {(span["trace_id"], span["span_id"]) for span in trace["spans"] + flow["spans"]}
    pairs = {(link["trace_id"], link["span_id"]) for span in trace["spans"] + flow["spans"] for link in span["links"]}
    pairs |= {(link["trace_id"], link["linked_span_id"]) for link in incoming}
    trace["incoming_links"] = incoming
    trace["peers"] = _peer_spans(pairs - drawn)
    trace["flow"] = flow
    trace["transactions"] = transactions_on_traces([trace_id, *flow["traces"]])
    return trace


def empty_trace(trace_id: str) -> dict[str, Any]:
    """The page's data for a trace with nothing stored yet (it fills in live)."""
    return {
        "trace_id": trace_id, "spans": [], "events": [], "logs": [], "linked_traces": [], "incoming_links": [],
        "peers": {}, "flow": {"traces": [], "spans": [], "events": []}, "transactions": [],
    }  # fmt: skip


def in_scope(trace: dict[str, Any], whole_flow: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The spans (by start) and events (by time) the chosen scope shows: this trace's, plus the rest
    of the flow's when ``whole_flow``."""
    spans, events = list(trace["spans"]), list(trace["events"])
    if whole_flow:
        spans = sorted(spans + trace["flow"]["spans"], key=lambda span: span["start_ns"])
        events = sorted(events + trace["flow"]["events"], key=lambda event: (event["time"], event["id"]))
    return spans, events


def summary(spans: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The header's counts for a scope (``static/js/tracefacts.js``'s ``summarize`` counts the same):
    spans, events, errors, services with their span counts, traces, the span envelope's duration,
    the root (the first span without a parent) and the start (the first span's, else the first
    event's)."""
    services = Counter(span["service"] for span in spans)
    duration_ms = (max(s["end_ns"] for s in spans) - min(s["start_ns"] for s in spans)) / 1e6 if spans else 0.0
    roots = [s for s in spans if not s["parent_span_id"]]
    return {
        "services": sorted(services.items()),
        "span_count": len(spans),
        "event_count": len(events),
        "error_count": sum(1 for s in spans if s["status"]["code"] == "error"),
        "trace_count": len({item["trace_id"] for item in spans + events}),
        "duration": duration_text(duration_ms),
        "root": roots[0] if roots else (spans[0] if spans else None),
        "start": spans[0]["start"] if spans else (events[0]["time"] if events else ""),
    }


@login_required
def trace_page(request: HttpRequest, trace_id: str) -> HttpResponse:
    parsed = parse_trace_id(trace_id)
    if parsed is None:
        return render(
            request, "dashboard/trace.html", {"trace_id": trace_id.lower(), "invalid": True, "trace": None}, status=400
        )
    trace_id = parsed
    trace = page_data(trace_id)
    found = trace is not None
    if trace is None:
        # Nothing stored yet: the page still opens (404) and fills in live as the trace arrives.
        trace = empty_trace(trace_id)
    whole_flow = request.GET.get("flow") != "0"
    spans, events = in_scope(trace, whole_flow)
    transactions = trace["transactions"]
    if not whole_flow:
        transactions = [tx for tx in transactions if trace_id in tx["on_traces"]]
    return render(
        request,
        "dashboard/trace.html",
        {
            "trace_id": trace_id,
            "trace": trace,
            "summary": summary(spans, events),
            # templates cannot spell "detail-type"
            "events": [{**event, "detail_type": event["detail-type"]} for event in events],
            "transactions": transactions,
            "found": found,
            "whole_flow": whole_flow,
            "flow_traces": len(trace["flow"]["traces"]) + 1,
        },
        status=200 if found else 404,
    )


@login_required
def trace_page_data(request: HttpRequest, trace_id: str) -> HttpResponse:
    """``/traces/<trace_id>/data``: the page's data as JSON, re-read by the page after live items and
    reconnects (the same errors as ``GET /api/traces/<id>``)."""
    parsed = parse_trace_id(trace_id)
    if parsed is None:
        return error_response(400, "invalid_trace_id", INVALID, where="trace_id")
    trace = page_data(parsed)
    if trace is None:
        return error_response(404, "not_found", f"No span, event or log of trace {parsed} is stored.")
    return json_response(trace)
