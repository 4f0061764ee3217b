"""``/live/``: the live tail page. The page is a shell; ``static/js/live.js`` fills it over
``/ws/live/`` and resumes from ``GET /api/events?after=`` after a reconnect."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie  # the pattern editor validates through POST /api/patterns/test
def live_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/live.html", {"max_rows": 500})
