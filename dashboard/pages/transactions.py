"""``/transactions/``: the incomplete / out-of-order report, its funnel, CSV export, and lifecycles."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.html import escape

from dashboard.core.errors import Problem
from dashboard.core.numbers import whole_number
from dashboard.lifecycles.definitions import LifecycleError, create_lifecycle
from dashboard.lifecycles.models import Lifecycle
from dashboard.lifecycles.report import STATUSES, build_report, first_page, funnel, transaction_json

FILTERS = ("lifecycle", "status", "out_of_order", "missing_step", "since", "until", "limit")
BAR_WIDTH = 320  # the funnel's widest bar, in SVG user units
BAR_HEIGHT, ROW_GAP = 18, 6


def _lifecycle_form(request: HttpRequest) -> dict[str, Any]:
    """The create form's fields as the API takes them; steps one per line (or comma-separated)."""
    post = request.POST
    steps = [step.strip() for step in post.get("steps", "").replace(",", "\n").splitlines() if step.strip()]
    timeout: Any = post.get("timeout_seconds", "").strip()
    timeout = whole_number(timeout) or timeout  # not a number: left for the check to refuse
    document: dict[str, Any] = {
        "name": post.get("name", ""),
        "key": post.get("key", "").strip(),
        "steps": steps,
        "timeout_seconds": timeout,
    }
    pattern = post.get("pattern", "").strip()
    if pattern:
        try:
            document["pattern"] = orjson.loads(pattern)
        except orjson.JSONDecodeError:
            raise LifecycleError("The event pattern is not valid JSON.") from None
    return document


def _funnel_chart(lifecycles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bar geometry for the server-rendered SVG: one bar per step, as wide as the share reaching it."""
    charts = []
    for item in lifecycles:
        total = max(item["total"], 1)
        bars = []
        for row, step in enumerate(item["steps"]):
            bars.append(
                {
                    **step,
                    "y": row * (BAR_HEIGHT + ROW_GAP),
                    "width": round(BAR_WIDTH * step["reached"] / total),
                    "percent": round(100 * step["reached"] / total),
                }
            )
        height = len(bars) * (BAR_HEIGHT + ROW_GAP)
        charts.append({**item, "bars": bars, "height": height, "bar_width": BAR_WIDTH, "bar_height": BAR_HEIGHT})
    return charts


@login_required
def transactions_page(request: HttpRequest) -> HttpResponse:
    create_error, status = "", 200
    if request.method == "POST":
        try:
            lifecycle = create_lifecycle(_lifecycle_form(request))
        except LifecycleError as err:
            create_error, status = str(err), 400
        else:
            return HttpResponseRedirect("/transactions/?" + urlencode({"lifecycle": lifecycle.name}))
    form = {name: request.GET.get(name, "") for name in FILTERS}
    kept = {name: value for name, value in form.items() if value}
    error, rows, next_cursor = "", [], None
    try:
        report = build_report(request.GET.dict())
        page, next_cursor = first_page(report)
        rows = [transaction_json(tx, report.lifecycles[tx.lifecycle_id], report.now) for tx in page]
        for row in rows:  # templates cannot spell "detail-type"
            row["out_of_order_events"] = [
                {**fact, "detail_type": fact["detail-type"]} for fact in row["out_of_order_events"]
            ]
    except Problem as err:
        error, status = str(err), status if status != 200 else 400
    return render(
        request,
        "dashboard/transactions.html",
        {
            "form": form,
            "statuses": STATUSES,
            "lifecycles": list(Lifecycle.objects.order_by("name")),
            "rows": rows,
            "query": urlencode(kept),
            "error": error,
            "create_error": create_error,
            "posted": request.POST if request.method == "POST" else {},
            "csv_url": "/api/transactions.csv" + ("?" + urlencode(kept) if kept else ""),
            "older_url": "?" + urlencode({**kept, "cursor": next_cursor}) if next_cursor else "",
            "filtered": bool(kept),
        },
        status=status,
    )


@login_required
def transactions_funnel(request: HttpRequest) -> HttpResponse:
    """The funnel for the report's filters, as a fragment of the report page (which fetches it once
    it is drawn: counting every record is the slow part of the report with millions of them)."""
    try:
        chart = _funnel_chart(funnel(build_report(request.GET.dict())))
    except Problem as err:
        return HttpResponse(f'<p class="error">{escape(str(err))}</p>', status=400)
    return render(request, "dashboard/includes/funnel.html", {"chart": chart})
