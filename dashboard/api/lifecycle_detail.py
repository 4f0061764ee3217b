"""``GET /api/transactions/<lifecycle>/<key>`` (one transaction with its steps in order) and
``GET /api/lifecycles/<name>/timings`` (the time between consecutive steps), both ``read``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api import lifecycles as lifecycle_api
from dashboard.core.http import api_view, json_response
from dashboard.lifecycles.detail import step_timings, transaction_at
from dashboard.lifecycles.models import Lifecycle


@api_view("read")
def get_transaction(request: HttpRequest, lifecycle: str, key: str) -> HttpResponse:
    return json_response(transaction_at(f"{lifecycle}/{key}"))


@api_view("read")
def _timings(request: HttpRequest, name: str) -> HttpResponse:
    return json_response(step_timings(name))


@csrf_exempt  # the lifecycle view it may hand over to authenticates itself
def timings(request: HttpRequest, name: str) -> HttpResponse:
    # A lifecycle may be named "…/timings" itself: such a name keeps its own routes.
    if Lifecycle.objects.filter(name=f"{name}/timings").exists():
        return lifecycle_api.lifecycle(request, f"{name}/timings")
    return _timings(request, name)
