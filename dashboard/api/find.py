"""``GET /api/find?q=`` (``read``): what a person pastes, resolved (``dashboard.lifecycles.find``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import api_view, json_response
from dashboard.lifecycles.find import find


@api_view("read")
def find_anything(request: HttpRequest) -> HttpResponse:
    return json_response(find(request.GET.get("q")))
