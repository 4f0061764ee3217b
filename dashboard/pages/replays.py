"""``/replays/``: consumers (edit, pause, test, attempts, delete), a new replay (dry run first; a
"replay these" link fills it in), replays with live progress, dead letters and attempts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.core.numbers import whole_number
from dashboard.replay.actions import ATTEMPT_OUTCOMES
from dashboard.replay.models import Consumer, Delivery, Replay
from dashboard.replay.shapes import consumer_json, delivery_json, replay_json

RECENT_REPLAYS = 50
DEAD_LETTERS = 100


@login_required
def replays_page(request: HttpRequest) -> HttpResponse:
    replays = list(Replay.objects.prefetch_related("consumers").order_by("-id")[:RECENT_REPLAYS])
    selected = None
    missing = None  # a ?replay= that names no replay: the page's not-found state
    asked = request.GET.get("replay")
    if asked:
        wanted = whole_number(asked)
        if wanted is not None:
            selected = next((r for r in replays if r.pk == wanted), None) or Replay.objects.filter(pk=wanted).first()
        if selected is None:
            missing = asked[:40]
    else:
        selected = next((r for r in replays if r.failed), None)
    dead = []
    if selected is not None:
        rows = (
            Delivery.objects.filter(replay=selected, state=Delivery.DEAD)
            .select_related("consumer")
            .order_by("id")[:DEAD_LETTERS]
        )
        dead = [delivery_json(row) for row in rows]
    return render(
        request,
        "dashboard/replays.html",
        {
            "consumers": [consumer_json(c) for c in Consumer.objects.order_by("name")],
            "replays": [replay_json(r) for r in replays],
            "selected": replay_json(selected) if selected else None,
            "missing_replay": missing,
            "dead_letters": dead,
            "outcomes": ATTEMPT_OUTCOMES,
        },
        status=404 if missing else 200,
    )
