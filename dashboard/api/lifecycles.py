"""``POST /api/lifecycles`` (operate) defines a lifecycle; ``GET /api/lifecycles`` (read) lists them."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api.http import ApiError, api_view, json_response
from dashboard.models import Lifecycle
from dashboard.transactions.definitions import LifecycleError, create_lifecycle, lifecycle_json


@api_view("operate", methods=("POST",))
def create(request: HttpRequest) -> HttpResponse:
    try:
        document = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    try:
        lifecycle = create_lifecycle(document)
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
