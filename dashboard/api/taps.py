"""Broker taps (docs/taps.md): ``GET`` (read) lists and shows them; creating, changing, stopping,
starting and deleting take ``operate``. Thin views over ``dashboard.taps.actions``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.api.body import json_body
from dashboard.core.http import api_view, json_response
from dashboard.taps import actions
from dashboard.taps.models import Tap


@api_view("operate", ("POST",))
def create(request: HttpRequest) -> HttpResponse:
    tap = actions.do_create_tap(actions.check_tap(json_body(request)))
    return json_response(actions.tap_json(tap), status=201, headers={"Location": f"/api/taps/{tap.name}"})


@api_view("read")
def list_all(request: HttpRequest) -> HttpResponse:
    return json_response({"results": [actions.tap_json(tap) for tap in Tap.objects.order_by("name")]})


@csrf_exempt  # each branch authenticates itself (and checks CSRF for session writes)
def taps(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return create(request)
    return list_all(request)


@api_view("read")
def read_one(request: HttpRequest, name: str) -> HttpResponse:
    return json_response(actions.tap_detail_json(actions.get_tap(name)))


@api_view("operate", ("DELETE",))
def delete(request: HttpRequest, name: str) -> HttpResponse:
    actions.do_delete_tap(actions.get_tap(name))
    return HttpResponse(status=204)


@api_view("operate", ("PATCH",))
def change(request: HttpRequest, name: str) -> HttpResponse:
    """Change the tap's format, URL or options: it stops, its broker side moves, and it runs again."""
    tap = actions.get_tap(name)
    return json_response(
        actions.tap_json(actions.do_update_tap(tap, actions.check_tap_change(tap, json_body(request))))
    )


@csrf_exempt  # each branch authenticates itself (and checks CSRF for session writes)
def tap(request: HttpRequest, name: str) -> HttpResponse:
    if request.method == "GET":
        return read_one(request, name)
    if request.method == "PATCH":
        return change(request, name)
    return delete(request, name)


@api_view("operate", ("POST",))
def stop(request: HttpRequest, name: str) -> HttpResponse:
    return json_response(actions.tap_json(actions.do_stop_tap(actions.get_tap(name))))


@api_view("operate", ("POST",))
def start(request: HttpRequest, name: str) -> HttpResponse:
    return json_response(actions.tap_json(actions.do_start_tap(actions.get_tap(name))))
