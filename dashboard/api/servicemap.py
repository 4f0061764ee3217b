"""``GET /api/servicemap`` (``read``): the services and edges of a time window (``dashboard.servicemap``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import api_view, json_response
from dashboard.servicemap.queries import service_map, window_params


@api_view("read")
def get_service_map(request: HttpRequest) -> HttpResponse:
    return json_response(service_map(window_params(request.GET.dict())))
