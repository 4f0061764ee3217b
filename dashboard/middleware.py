"""Response headers every page and API carries, and the answer to an overloaded database."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse

from dashboard.api.http import error_response

logger = logging.getLogger(__name__)

# Pages load scripts and styles only from our own origin; event payloads are data, never code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A locked or unreachable database is overload, not a client error and not a crash: tell the
        # client to come back (OTel exporters and SDKs retry 503 with Retry-After).
        if isinstance(exception, OperationalError):
            logger.warning("database unavailable for %s: %s", request.path, exception)
            return error_response(
                503, "unavailable", "The database is busy or unavailable; retry shortly.", {"Retry-After": "1"}
            )
        return None
