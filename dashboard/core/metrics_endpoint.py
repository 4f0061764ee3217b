"""``GET /metrics``: the Prometheus text format (``dashboard.core.metrics`` says what is in it).

A scraper sends a token with the ``read`` scope (Prometheus: ``authorization: {credentials: …}``),
or nothing when ``EVENTSCOPE_METRICS_PUBLIC`` opens it (a scraper inside the network).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from dashboard.core.http import ApiError, authenticate, error_response
from dashboard.core.metrics import exposition


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "method_not_allowed", "Use GET.", {"Allow": "GET, HEAD"})
    if not settings.EVENTSCOPE_METRICS_PUBLIC:
        try:
            authenticate(request, "read", allow_session=True)
        except ApiError as err:
            return error_response(err.status, err.code, err.message, err.headers)
    # The text format every Prometheus reads (0.0.4); the series' names need none of the newer one.
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
