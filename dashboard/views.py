"""Server-rendered pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.models import Event
from tracing.models import Span


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    recent = list(
        Event.objects.only("id", "source", "detail_type", "time", "trace_id", "idempotency_key").order_by("-id")[:20]
    )
    return render(
        request,
        "dashboard/overview.html",
        {"recent": recent, "event_count": Event.objects.count(), "span_count": Span.objects.count()},
    )
