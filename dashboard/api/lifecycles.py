"""``POST /api/lifecycles`` (operate) defines a lifecycle; ``GET /api/lifecycles`` (read) lists them.
``/api/lifecycles/<name>``: ``GET`` (read) one, ``PATCH`` (operate) changes it (see
``dashboard.lifecycles.changes``), ``DELETE`` (operate) removes it with its transaction records."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api.body import json_body
from dashboard.api.idempotency import idempotent
from dashboard.core.http import ApiError, api_view, error_response, json_response
from dashboard.lifecycles.changes import update_lifecycle
from dashboard.lifecycles.definitions import create_lifecycle, lifecycle_json
from dashboard.lifecycles.models import Lifecycle


@api_view("operate", methods=("POST",))
@idempotent
def create(request: HttpRequest) -> HttpResponse:
    return json_response(lifecycle_json(create_lifecycle(json_body(request))), status=201)


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
    return json_response(lifecycle_json(update_lifecycle(lifecycle, json_body(request))))


@csrf_exempt  # each branch authenticates itself (and checks CSRF for session writes)
def lifecycle(request: HttpRequest, name: str) -> HttpResponse:
    if request.method == "GET":
        return read_one(request, name)
    if request.method in ("PATCH", "DELETE"):
        return change(request, name)
    allowed = "GET, PATCH, DELETE"
    return error_response(405, "method_not_allowed", f"Use {allowed}.", {"Allow": allowed})
