"""``/keys/<idempotency_key>/``: every delivery of a key — originals, retries — with traces and outcomes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.events.queries import key_ledger
from tracing.ledger import RETRY, delivery_kinds, delivery_outcomes


@login_required
def key_page(request: HttpRequest, key: str) -> HttpResponse:
    ledger = key_ledger(key)
    if ledger is None:
        return render(request, "dashboard/key.html", {"key": key, "rows": []}, status=404)
    events = ledger["events"]
    kinds = delivery_kinds(events)
    outcomes = delivery_outcomes(events)
    rows = [
        {"n": n, "event": {**event, "detail_type": event["detail-type"]}, "kind": kind, **outcome}
        for n, (event, kind, outcome) in enumerate(zip(events, kinds, outcomes, strict=True), start=1)
    ]
    failed = sum(
        1
        for row in rows
        if any(c["status"] == "error" for c in row["consumers"])
        or (row["publisher"] and row["publisher"]["status"] == "error")
    )
    return render(
        request,
        "dashboard/key.html",
        {
            "key": key,
            "rows": rows,
            "traces": ledger["traces"],
            "retries": kinds.count(RETRY),
            "deliveries": len(events),
            "failed": failed,
            "first": events[0]["received_at"],
            "last": events[-1]["received_at"],
        },
    )
