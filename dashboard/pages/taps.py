"""``/taps/``: broker taps with their state, counts, backlog and last error; create, stop, start, delete."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.taps.actions import rejection_json, tap_json
from dashboard.taps.models import Tap, TapRejection

RECENT_REJECTIONS = 20


@login_required
def taps_page(request: HttpRequest) -> HttpResponse:
    taps = list(Tap.objects.order_by("name"))
    recent = TapRejection.objects.select_related("tap").order_by("-id")[:RECENT_REJECTIONS]
    return render(
        request,
        "dashboard/taps.html",
        {
            "taps": [tap_json(tap) for tap in taps],
            "rejections": [{"tap": r.tap.name, **rejection_json(r)} for r in recent],
        },
    )
