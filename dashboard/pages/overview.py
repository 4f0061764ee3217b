"""``/``: the overview — rates by source and service, recent error spans, incomplete transactions,
breaking schema changes, running replays, recent events."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.events.models import Event
from dashboard.lifecycles.lookup import incomplete_summary
from dashboard.replay.models import Replay
from dashboard.replay.shapes import replay_json
from dashboard.schemas.queries import recent_breaking
from dashboard.servicemap.queries import slowest_edges, window_params
from tracing.assembly import format_ns
from tracing.models import Span
from tracing.rates import DEFAULT_WINDOW, WINDOWS, recent_rates

RECENT_EVENTS = 20
RECENT_ERRORS = 15


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    event_rates, span_rates = recent_rates(window)
    recent = list(
        Event.objects.only(
            "id", "source", "detail_type", "time", "received_at", "trace_id", "idempotency_key"
        ).order_by("-id")[:RECENT_EVENTS]
    )
    errors = list(
        Span.objects.filter(status_code=Span.STATUS_ERROR)
        .only("trace_id", "span_id", "name", "service", "start_ns", "end_ns", "status_message")
        .order_by("-start_ns")[:RECENT_ERRORS]
    )
    error_rows = [
        {"span": span, "start": format_ns(span.start_ns)[:23] + "Z", "ms": (span.end_ns - span.start_ns) / 1e6}
        for span in errors
    ]
    active = list(
        Replay.objects.filter(state__in=(Replay.PENDING, Replay.RUNNING)).prefetch_related("consumers").order_by("-id")
    )
    breaking = recent_breaking()
    for entry in breaking:
        entry["detail_type"] = entry["detail-type"]  # templates cannot spell "detail-type"
    return render(
        request,
        "dashboard/overview.html",
        {
            "incomplete": incomplete_summary(),
            "breaking": breaking,
            "replays": [replay_json(replay, consumers=[c.name for c in replay.consumers.all()]) for replay in active],
            "recent": recent,
            "errors": error_rows,
            "window": window,
            "windows": list(WINDOWS),
            "event_rates": event_rates.as_json(),
            "span_rates": span_rates.as_json(),
            "slowest": slowest_edges(window=window_params({}, default=WINDOWS[window][0])),
        },
    )
