"""``POST /api/lifecycles`` (operate) defines a lifecycle; ``GET /api/lifecycles`` (read) lists them.
``/api/lifecycles/<name>``: ``GET`` (read) one, ``PATCH`` (operate) changes it (see
``dashboard.lifecycles.changes``), ``DELETE`` (operate) removes it with its transaction records."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api.idempotency import idempotent
from dashboard.core.http import ApiError, api_view, error_response, json_response
from dashboard.lifecycles.changes import update_lifecycle
from dashboard.lifecycles.definitions import LifecycleError, create_lifecycle, lifecycle_json
from dashboard.lifecycles.models import Lifecycle
from dashboard.patterns.engine import TOO_DEEP_BODY, json_too_deep


def _document(request: HttpRequest) -> object:
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as err:
        if json_too_deep(err):  # e.g. a pattern nested a thousand levels: say so, not "not JSON"
            raise ApiError(400, "too_deep", TOO_DEEP_BODY) from None
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None


@api_view("operate", methods=("POST",))
@idempotent
def create(request: HttpRequest) -> HttpResponse:
    try:
        lifecycle = create_lifecycle(_document(request))
    except LifecycleError as err:
        raise ApiError(400, "invalid_lifecycle", str(err)) from None
    return json_response(lifecycle_json(lifecycle), status=201)


@api_view("read")
def list_all(request: HttpRequest) -> HttpResponse:
    return json_response({"results": [lifecycle_json(lifecycle) for lifecycle in Lifecycle.objects.order_by("name")]})


@csrf_exempt  # each branch authenticates itself (and checks CSRF for session writes)
def lifecycles(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return create(request)
    return list_all(request)


def _named(name: str) -> Lifecycle:
    lifecycle = Lifecycle.objects.filter(name=name).first()
    if lifecycle is None:
        raise ApiError(404, "not_found", f"No lifecycle named {name!r}.")
    return lifecycle


@api_view("read")
def read_one(request: HttpRequest, name: str) -> HttpResponse:
    return json_response(lifecycle_json(_named(name)))


@api_view("operate", methods=("PATCH", "DELETE"))
def change(request: HttpRequest, name: str) -> HttpResponse:
    lifecycle = _named(name)
    if request.method == "DELETE":
        lifecycle.delete()  # and its transaction records
        return HttpResponse(status=204)
    try:
        updated = update_lifecycle(lifecycle, _document(request))
    except LifecycleError as err:
        raise ApiError(400, "invalid_lifecycle", str(err)) from None
    return json_response(lifecycle_json(updated))


@csrf_exempt  # each branch authenticates itself (and checks CSRF for session writes)
def lifecycle(request: HttpRequest, name: str) -> HttpResponse:
    if request.method == "GET":
        return read_one(request, name)
    if request.method in ("PATCH", "DELETE"):
        return change(request, name)
    allowed = "GET, PATCH, DELETE"
    return error_response(405, "method_not_allowed", f"Use {allowed}.", {"Allow": allowed})
