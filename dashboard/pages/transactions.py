"""``/transactions/``: the report (what needs review by default), its funnel with the time between
steps, CSV export and lifecycles; ``/transactions/<lifecycle>/<key>/``: one transaction."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.html import escape

from dashboard.core.errors import Problem
from dashboard.core.numbers import whole_number
from dashboard.events.models import Event
from dashboard.lifecycles.definitions import LifecycleError, create_lifecycle
from dashboard.lifecycles.detail import NotFound, step_timings, transaction_at
from dashboard.lifecycles.models import Lifecycle, Transaction
from dashboard.lifecycles.report import (
    STATUSES,
    Report,
    build_report,
    first_page,
    funnel,
    status_q,
    transaction_json,
    transaction_url,
)

# The report's filters, kept in every link of the page (paging, the view switch, the funnel).
# ``show=all`` lifts the default view: without it, and without a status or out-of-order filter,
# the report shows what needs review (incomplete, or out of order).
FILTERS = ("lifecycle", "status", "out_of_order", "missing_step", "since", "until", "limit", "show")
BAR_HEIGHT = 12  # the funnel's bars, in pixels


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
    """One bar per step, as wide as the share of the lifecycle's records reaching it (``share``, a
    percentage of the bar's track; ``percent``, the same rounded for the text)."""
    charts = []
    for item in lifecycles:
        total = max(item["total"], 1)
        bars = [
            {**step, "share": f"{100 * step['reached'] / total:.2f}", "percent": round(100 * step["reached"] / total)}
            for step in item["steps"]
        ]
        charts.append({**item, "bars": bars, "bar_height": BAR_HEIGHT})
    return charts


def duration_text(ms: float | None) -> str:
    """A gap between two events for people: ``850 ms``, ``4.2 s``, ``3 min 4 s``, ``2 h 5 min``,
    ``3 d 4 h``; negative when the later step's event is older; empty for None."""
    if ms is None:
        return ""
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    if ms < 60_000:
        return f"{sign}{ms / 1000:.1f} s"
    seconds = int(ms // 1000)
    for unit, size, small, small_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if seconds >= size:
            return f"{sign}{seconds // size} {unit} {seconds % size // small_size} {small}"
    return f"{sign}{seconds} s"


def _view(params: dict[str, str]) -> str:
    """``review`` (the default), ``all`` (``show=all``) or ``filtered`` (a status or out-of-order
    filter chosen: it says what to show by itself)."""
    if params.get("status") or params.get("out_of_order"):
        return "filtered"
    return "all" if params.get("show") == "all" else "review"


def needs_review(report: Report) -> None:
    """Narrow the report to what needs a person: incomplete at ``report.now``, or out of order."""
    report.query = report.query.filter(status_q(Transaction.INCOMPLETE, report.now) | Q(out_of_order=True))


def _traces_by_step(rows: list[dict[str, Any]]) -> None:
    """Label each row's trace links by the steps whose events are on them (one query for the page):
    ``row["traces"] = [{"id", "url", "label"}]``, a trace no step event is on labelled "other"."""
    ids = [seen["id"] for row in rows for seen in row["steps_seen"]]
    trace_of = dict(Event.objects.filter(pk__in=ids).values_list("id", "trace_id")) if ids else {}
    for row in rows:
        steps: dict[str, list[str]] = {trace_id: [] for trace_id in row["trace_ids"]}
        for seen in row["steps_seen"]:
            trace_id = trace_of.get(seen["id"])
            if trace_id:
                steps.setdefault(trace_id, []).append(seen["step"])
        row["traces"] = [
            {"id": trace_id, "url": f"/traces/{trace_id}/", "label": ", ".join(names) or "other"}
            for trace_id, names in steps.items()
        ]


@login_required
def transactions_page(request: HttpRequest) -> HttpResponse:
    create_error, status = "", 200
    if request.method == "POST":
        try:
            lifecycle = create_lifecycle(_lifecycle_form(request))
        except LifecycleError as err:
            create_error, status = str(err), err.status
        else:
            return HttpResponseRedirect("/transactions/?" + urlencode({"lifecycle": lifecycle.name}))
    form = {name: request.GET.get(name, "") for name in FILTERS}
    kept = {name: value for name, value in form.items() if value}
    view = _view(kept)
    if view != "all":
        kept.pop("show", None)  # a status or out-of-order filter already says what to show
    explicit = {name: value for name, value in kept.items() if name != "show"}
    error, rows, next_cursor = "", [], None
    try:
        report = build_report(request.GET.dict())
        if view == "review":
            needs_review(report)
        page, next_cursor = first_page(report)
        rows = [transaction_json(tx, report.lifecycles[tx.lifecycle_id], report.now) for tx in page]
        _traces_by_step(rows)
        for row in rows:  # templates cannot spell "detail-type"
            row["out_of_order_events"] = [
                {**fact, "detail_type": fact["detail-type"]} for fact in row["out_of_order_events"]
            ]
            row["url"] = transaction_url(row["lifecycle"], row["key"])
    except Problem as err:
        error, status = str(err), status if status != 200 else 400
    # The view switch keeps the other filters; "all" and "needs review" replace a status or
    # out-of-order filter, which would otherwise decide by itself.
    others = {name: value for name, value in explicit.items() if name not in ("status", "out_of_order")}
    return render(
        request,
        "dashboard/transactions.html",
        {
            "form": form,
            "statuses": STATUSES,
            "lifecycles": list(Lifecycle.objects.order_by("name")),
            "rows": rows,
            "view": view,
            "review_url": "?" + urlencode(others) if others else "?",
            "all_url": "?" + urlencode({**others, "show": "all"}),
            # the funnel counts what the explicit filters select: complete records too, in the
            # default view, so it shows where the ones under review fell out
            "query": urlencode(explicit),
            "error": error,
            "create_error": create_error,
            "posted": request.POST if request.method == "POST" else {},
            "csv_url": "/api/transactions.csv" + ("?" + urlencode(explicit) if explicit else ""),
            "older_url": "?" + urlencode({**kept, "cursor": next_cursor}) if next_cursor else "",
            "newest_url": "?" + urlencode(kept) if request.GET.get("cursor") else "",
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
        for item in chart:  # beside each funnel, the time between its consecutive steps
            item["timings"] = [
                {**pair, **{f"p{p}": duration_text(pair[f"p{p}_ms"]) for p in (50, 95, 99)}}
                for pair in step_timings(item["lifecycle"])["results"]
            ]
    except Problem as err:
        return HttpResponse(f'<p class="error">{escape(str(err))}</p>', status=400)
    return render(request, "dashboard/includes/funnel.html", {"chart": chart})


@login_required
def transaction_page(request: HttpRequest, path: str) -> HttpResponse:
    """One transaction: its steps in lifecycle order (seen or missing, with time, event, trace and
    the time since the previous step; for a missing step, who sends it for other keys), updates,
    out-of-order facts, duplicates, deadline and status. ``path`` is ``<lifecycle>/<key>``,
    decoded; an unknown one is the page's own not-found state (404), inside the layout."""
    try:
        item = transaction_at(path)
    except NotFound as err:
        return render(request, "dashboard/transaction.html", {"not_found": str(err)}, status=404)
    counts = {seen["step"]: seen["count"] for seen in item["steps_seen"]}
    steps = [
        {**step, "count": counts.get(step["step"], 0), "gap": duration_text(step["since_previous_ms"])}
        for step in item["steps"]
    ]
    traces = {trace_id: [s["step"] for s in steps if s["trace_id"] == trace_id] for trace_id in item["trace_ids"]}
    facts = [{**fact, "detail_type": fact["detail-type"]} for fact in item["out_of_order_facts"]]
    return render(
        request,
        "dashboard/transaction.html",
        {
            "tx": item,
            "steps": steps,
            "facts": facts,
            "traces": [{"id": trace_id, "label": ", ".join(names) or "other"} for trace_id, names in traces.items()],
            "report_url": "/transactions/?" + urlencode({"lifecycle": item["lifecycle"], "show": "all"}),
        },
    )
