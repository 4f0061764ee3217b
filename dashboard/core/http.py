"""HTTP plumbing shared by every JSON endpoint: errors, responses and token/session authentication."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from kombu.exceptions import OperationalError as BrokerError

from dashboard.core import metrics
from dashboard.core.broker import RETRY_AFTER_SECONDS, BrokerUnavailable
from dashboard.core.errors import Problem
from dashboard.core.models import SCOPES
from dashboard.core.tokens import Principal, bearer_token, verify_bearer

View = Callable[..., HttpResponse]
logger = logging.getLogger(__name__)


class ApiError(Problem):
    """A Problem an endpoint answers with ``status`` and these response ``headers``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, *, where: str | None = None
    ) -> None:
        super().__init__(message, code=code, where=where)
        self.status = status
        self.headers = headers or {}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status, content_type="application/json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, *, where: str | None = None
) -> HttpResponse:
    """The JSON error body ``{"error": {"code", "message", "where"?}}``; ``where`` only when known."""
    error = {"code": code, "message": message}
    if where:
        error["where"] = where
    return json_response({"error": error}, status=status, headers=headers)


def problem_response(problem: Problem) -> HttpResponse:
    """``problem`` as the JSON error body, with its status (and an ApiError's headers)."""
    headers = problem.headers if isinstance(problem, ApiError) else None
    return error_response(problem.status, problem.code, problem.message, headers, where=problem.where)


# The codes of errors answered by status alone (the server or Django refused before any view ran).
STATUS_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "request_header_fields_too_large",
    500: "internal_error",
}


def error_response_for_status(status: int, message: str | None = None) -> HttpResponse:
    """The JSON error for ``status`` when nothing more specific is known: the code from
    ``STATUS_CODES`` (else the status phrase in snake case), the message given or the phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = STATUS_CODES.get(status) or phrase.lower().replace(" ", "_").replace("-", "_")
    return error_response(status, code, message or f"{phrase}.")


def database_unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    """The answer to a locked or unreachable database: overload, not a client error and not a crash,
    so the client is told to come back (OTel exporters and SDKs retry 503 with Retry-After)."""
    logger.warning("database unavailable for %s: %s", request.path, error)
    metrics.DATABASE_BUSY.inc()
    return error_response(
        503, "unavailable", "The database is busy or unavailable; retry shortly.", {"Retry-After": "1"}
    )


def broker_unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    """The answer to a task broker that is down: overload, not a crash, so the client is told to
    come back. (Actions that queue a task check the broker before they save anything.)"""
    logger.warning("task broker unavailable for %s: %s", request.path, error.__cause__ or error)
    return error_response(
        503, "unavailable", "The task queue is unavailable; retry shortly.", {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def authenticate(request: HttpRequest, scope: str, *, allow_session: bool) -> Principal:
    """The caller, checked for ``scope``; raises ApiError 401/403.

    A logged-in user (the pages' session) holds the read and operate scopes; writes by session must
    carry a CSRF token, as any form post would.
    """
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        principal = verify_bearer(token) if token else None
        if principal is None:
            raise ApiError(401, "unauthorized", "The bearer token is missing, malformed, unknown or revoked.")
    elif allow_session and request.user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            reason = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(
                request, lambda r: HttpResponse(), (), {}
            )
            if reason is not None:
                raise ApiError(403, "csrf_failed", "CSRF verification failed for a session-authenticated write.")
        principal = Principal(name=request.user.get_username(), scopes=frozenset(("read", "operate")))
    else:
        raise ApiError(
            401,
            "unauthorized",
            "Authentication required: send 'Authorization: Bearer <token>' "
            "(on the server: .venv/bin/python manage.py create_token).",
            headers={"WWW-Authenticate": 'Bearer realm="eventscope"'},
        )
    if scope not in principal.scopes:
        raise ApiError(403, "forbidden", f"This token lacks the '{scope}' scope.")
    return principal


def api_view(scope: str, methods: tuple[str, ...] = ("GET",), *, allow_session: bool = True) -> Callable[[View], View]:
    """Wrap a JSON endpoint: method check, authentication for ``scope``, any Problem -> its JSON
    error (``problem_response``), an unreachable task broker -> JSON 503 with ``Retry-After``."""
    assert scope in SCOPES

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(
                        405, "method_not_allowed", f"Use {' or '.join(methods)}.", headers={"Allow": ", ".join(methods)}
                    )
                request.principal = authenticate(request, scope, allow_session=allow_session)  # type: ignore[attr-defined]
                return view(request, *args, **kwargs)
            except Problem as problem:
                return problem_response(problem)
            except (BrokerUnavailable, BrokerError) as err:  # BrokerError: a task sent without a check
                return broker_unavailable(request, err)

        return wrapped

    return decorate
