"""``GET /api/services`` (services with their span names) and ``GET /api/traces`` (trace search),
both ``read``; the search itself is ``tracing.search``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import api_view, json_response
from tracing.search import search_traces, services


@api_view("read")
def list_services(request: HttpRequest) -> HttpResponse:
    return json_response(services())


@api_view("read")
def find_traces(request: HttpRequest) -> HttpResponse:
    return json_response(search_traces(request.GET.dict(), request.GET.getlist("attr")))
