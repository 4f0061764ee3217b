"""``/map/``: the service map. The page is a frame; its script draws the map of the chosen window
from ``GET /api/servicemap`` and refreshes it every few seconds (static/js/servicemap.js)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

RANGES = ("15m", "1h", "6h", "24h")
DEFAULT_RANGE = "1h"
REFRESH_SECONDS = 5


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    chosen = request.GET.get("range", DEFAULT_RANGE)
    return render(
        request,
        "dashboard/servicemap.html",
        {
            "ranges": RANGES,
            "range": chosen if chosen in RANGES else DEFAULT_RANGE,
            "refresh_seconds": REFRESH_SECONDS,
        },
    )
