"""Consumers and replays (docs/replay.md, scope ``operate``): thin views over ``dashboard.replay``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboard.api.body import json_body
from dashboard.api.idempotency import idempotent
from dashboard.core.http import api_view, json_response
from dashboard.core.numbers import whole_number
from dashboard.events.envelope import format_time
from dashboard.replay import actions
from dashboard.replay.models import Consumer, Delivery, DeliveryAttempt, Replay
from dashboard.replay.shapes import consumer_json, delivery_json, logged_attempt_json, replay_json

PAGE = 100
_STATES = (Delivery.PENDING, Delivery.SENDING, Delivery.RETRY, Delivery.DELIVERED, Delivery.DEAD)


def _body(request: HttpRequest) -> Any:
    """The JSON body; an empty body is an empty object (a re-drive of every dead letter)."""
    return json_body(request) if request.body else {}


@api_view("operate", ("GET", "POST"))
@idempotent
def consumers(request: HttpRequest) -> HttpResponse:
    """``GET``: every consumer. ``POST``: create one (``201`` with it; ``409`` for a taken name;
    an ``Idempotency-Key`` makes a retry answer the first result)."""
    if request.method == "GET":
        return json_response({"results": [consumer_json(c) for c in Consumer.objects.order_by("name")]})
    return json_response(consumer_json(actions.do_create_consumer(_body(request))), status=201)


@api_view("operate", ("GET", "PATCH", "DELETE"))
def consumer_detail(request: HttpRequest, name: str) -> HttpResponse:
    """``GET`` one consumer; ``PATCH`` changes some of its fields; ``DELETE`` removes it (``204``;
    ``409`` while a replay delivers to it)."""
    consumer = actions.get_consumer(name)
    if request.method == "DELETE":
        actions.do_delete_consumer(consumer)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        consumer = actions.do_update_consumer(consumer, _body(request))
    return json_response(consumer_json(consumer))


@api_view("operate", ("POST",))
def consumer_test(request: HttpRequest, name: str) -> HttpResponse:
    """Send one sample event to the consumer now: ``200`` with the attempt (``delivered`` true for
    a 2xx, or a broker's confirmation), whatever the consumer answered; ``404``."""
    sent = actions.do_test_consumer(actions.get_consumer(name))
    return json_response({**logged_attempt_json(sent.attempt), "delivered": sent.delivered})


def _attempts(request: HttpRequest, **owner: Any) -> HttpResponse:
    rows, cursor = actions.attempts_page(**owner, outcome=request.GET.get("outcome"), cursor=request.GET.get("cursor"))
    return json_response({"results": [logged_attempt_json(row) for row in rows], "next_cursor": cursor})


@api_view("operate")
def consumer_attempts(request: HttpRequest, name: str) -> HttpResponse:
    """The consumer's attempts, newest first: ``outcome`` and ``cursor`` filter."""
    return _attempts(request, consumer=actions.get_consumer(name))


@api_view("operate")
def replay_attempts(request: HttpRequest, replay_id: str) -> HttpResponse:
    """The replay's attempts, newest first: ``outcome`` and ``cursor`` filter."""
    return _attempts(request, replay=actions.get_replay(replay_id))


def _create_replay(request: HttpRequest) -> HttpResponse:
    plan = actions.check_replay(_body(request))
    if plan.dry_run:
        answer = actions.plan_replay(plan)
        answer["since"], answer["until"] = format_time(plan.since), format_time(plan.until)
        return json_response(answer)
    replay = actions.do_create_replay(plan)
    return json_response(replay_json(replay), status=202, headers={"Location": f"/api/replays/{replay.pk}"})


@api_view("operate", ("GET", "POST"))
@idempotent
def replays(request: HttpRequest) -> HttpResponse:
    """``GET``: the latest replays, newest first. ``POST``: a dry run (``200`` with the plan) or a
    new replay (``202``, ``state`` pending; ``503`` with ``Retry-After`` and nothing saved when the
    task broker is down; an ``Idempotency-Key`` makes a retry answer the first result)."""
    if request.method == "GET":
        rows = Replay.objects.prefetch_related("consumers").order_by("-id")[:PAGE]
        return json_response({"results": [replay_json(r) for r in rows]})
    return _create_replay(request)


@api_view("operate")
def replay_detail(request: HttpRequest, replay_id: str) -> HttpResponse:
    return json_response(replay_json(actions.get_replay(replay_id)))


@api_view("operate", ("POST",))
def cancel_replay(request: HttpRequest, replay_id: str) -> HttpResponse:
    return json_response(replay_json(actions.do_cancel_replay(actions.get_replay(replay_id))))


@api_view("operate", ("POST",))
def redrive(request: HttpRequest, replay_id: str) -> HttpResponse:
    """Re-drive dead letters: ``{"ids": [...]}`` for some, an empty body for all of the replay's."""
    replay = actions.get_replay(replay_id)
    document = _body(request)
    if not isinstance(document, dict):
        raise actions.Invalid("The body must be a JSON object.")
    count = actions.do_redrive(replay, actions.check_delivery_ids(document.get("ids")))
    replay.refresh_from_db()
    return json_response({"redriven": count, "replay": replay_json(replay)})


@api_view("operate")
def deliveries(request: HttpRequest, replay_id: str) -> HttpResponse:
    """A replay's deliveries, oldest first, with their attempts: ``state`` (e.g. ``dead`` for the
    dead letters), ``consumer`` (a name) and ``cursor`` filter; ``limit`` ≤ 100."""
    replay = actions.get_replay(replay_id)
    query = Delivery.objects.filter(replay=replay).select_related("consumer").order_by("id")
    state = request.GET.get("state")
    if state:
        if state not in _STATES:
            raise actions.Invalid(f"'state' must be one of {', '.join(_STATES)}.", where="state")
        query = query.filter(state=state)
    if request.GET.get("consumer"):
        query = query.filter(consumer__name=request.GET["consumer"])
    cursor = request.GET.get("cursor")
    if cursor:
        after = whole_number(cursor)
        if after is None:
            raise actions.Invalid("'cursor' is not a cursor this API gave out.", where="cursor")
        query = query.filter(id__gt=after)
    limit = whole_number(request.GET.get("limit", str(PAGE)))
    if limit is None or not 1 <= limit <= PAGE:
        raise actions.Invalid(f"'limit' must be a whole number from 1 to {PAGE}.", where="limit")
    rows = list(query[: limit + 1])
    more = len(rows) > int(limit)
    rows = rows[: int(limit)]
    log: dict[int | None, list[DeliveryAttempt]] = {}
    for attempt in DeliveryAttempt.objects.filter(delivery_id__in=[r.pk for r in rows]).order_by("number"):
        log.setdefault(attempt.delivery_id, []).append(attempt)
    return json_response(
        {
            "results": [delivery_json(r, log.get(r.pk, [])) for r in rows],
            "next_cursor": str(rows[-1].pk) if more else None,
        }
    )
