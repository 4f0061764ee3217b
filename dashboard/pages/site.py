"""What every path of the site shares: the not-found answer (``handler404``) and the favicon."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from dashboard.core.http import error_response_for_status
from dashboard.core.middleware import is_api_path

#: The icon of every page: a small SVG, linked from base.html and also answered at /favicon.ico,
#: which browsers ask for on a first visit whatever the page links.
FAVICON = Path(settings.BASE_DIR) / "templates" / "static" / "favicon.svg"


def not_found_page(request: HttpRequest, *, what: str, detail: str = "", status: int = 404) -> HttpResponse:
    """The layout with a "not found" state: ``what`` was not found (a sentence's subject, e.g.
    ``"No event with the id X"``), ``detail`` says what to try. Used by the pages for unknown ids."""
    return render(request, "dashboard/not_found.html", {"what": what, "detail": detail}, status=status)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 answer (with DEBUG off): JSON on API paths, the layout's not-found page elsewhere."""
    if is_api_path(request.path_info):
        # The answer ApiErrorsMiddleware gives any other 404 on an API path.
        return error_response_for_status(404, f"There is no API endpoint at {request.path_info[:200]}.")
    return not_found_page(
        request, what="No page at this address", detail="Check the address, or start from a page in the menu."
    )


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response
