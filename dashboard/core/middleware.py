"""Response headers every page and API carries, error answers in the API's own shape, and the
answer to an overloaded database."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import Resolver404, resolve

from dashboard.core.endpoints import is_ingest_endpoint
from dashboard.core.http import database_unavailable, error_response, error_response_for_status
from dashboard.core.media import media_type

# The first path segments under which the server answers machines, not browsers: errors there are
# JSON (``{"error": {"code", "message"}}``), never an HTML page.
API_ROOTS = frozenset({"api", "aws", "v1", "metrics", "healthz", "readyz"})
# Error bodies Django (or a template) produces on its own, which API paths answer as JSON instead.
# The JSON, AWS JSON and protobuf bodies of the views are their protocol's answers and stay.
_PAGE_MEDIA_TYPES = ("text/html", "text/plain")
# Headers that describe the body, not the answer: the JSON body replacing it brings its own.
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def is_api_path(path: str) -> bool:
    """Whether ``path`` is an API's (JSON errors) rather than a page's."""
    return path.split("/", 2)[1] in API_ROOTS if path.startswith("/") else False


class ApiErrorsMiddleware:
    """Every error on an API path is the contract's JSON, whichever layer refused the request.

    Outermost, so it also sees what the other middleware and Django's own handlers answer:

    - a body declared larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 before anything reads
      it (Django would raise ``RequestDataTooBig`` on reading and answer an HTML 400; ingest
      endpoints check their own, lower limit and answer in their protocol's form);
    - a Host outside ``ALLOWED_HOSTS`` is a 400 that says so;
    - any other error answered as a page (404 for an unknown path, 500) becomes a JSON error with
      the same status and headers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._refuse_early(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code >= 400 and is_api_path(request.path_info) and _is_page(response):
            response = _as_json(response, request.path_info)
        return response

    def _refuse_early(self, request: HttpRequest) -> HttpResponse | None:
        api = is_api_path(request.path_info)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django reads it as absent too
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and declared > limit and not _bounds_its_own_body(request):
            message = f"The request body is larger than the limit of {limit} bytes."
            if api:
                return error_response(413, "payload_too_large", message)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        if api:
            try:
                request.get_host()
            except DisallowedHost as err:
                logging.getLogger("django.security.DisallowedHost").info("%s", err)
                host = request.META.get("HTTP_HOST", "")[:200]
                return error_response(400, "invalid_host", f"This server does not answer to the Host {host!r}.")
        return None


def _bounds_its_own_body(request: HttpRequest) -> bool:
    """Whether the request is a POST to an ingest endpoint, which answers an oversize body in its
    protocol's own form (see ``dashboard.core.endpoints``). Outermost, this middleware runs before
    Django resolves the URL, so it resolves it here (only for a body declared too large)."""
    if request.method != "POST":
        return False
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return is_ingest_endpoint(match.func)


def _is_page(response: HttpResponse) -> bool:
    return media_type(response.get("Content-Type")) in _PAGE_MEDIA_TYPES


def _as_json(response: HttpResponse, path: str) -> HttpResponse:
    messages = {
        404: f"There is no API endpoint at {path[:200]}.",
        500: "The server failed to process this request.",
    }
    converted = error_response_for_status(response.status_code, messages.get(response.status_code))
    for name, value in response.items():
        if name.lower() not in _BODY_HEADERS:
            converted[name] = value
    converted.cookies = response.cookies
    # Django logs an answer once; the one it already logged must not be logged again as new.
    if getattr(response, "_has_been_logged", False):
        converted._has_been_logged = True  # type: ignore[attr-defined]
    return converted


# Pages load scripts and styles only from our own origin; event payloads are data, never code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class RefuseNulMiddleware:
    """A path or query parameter holding U+0000 is a 400 before any view looks it up: PostgreSQL
    refuses the character in every text comparison (a 500), and nothing stored can hold it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()
        ):
            message = "The path or a query parameter contains the character U+0000 (NUL)."
            if is_api_path(request.path):
                return error_response(400, "invalid_parameter", message)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError):
            return database_unavailable(request, exception)
        return None
