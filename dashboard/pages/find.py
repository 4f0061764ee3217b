"""``/find/?q=``: the header's find box. What a person pastes is resolved by
``dashboard.lifecycles.find`` (the same answer as ``GET /api/find``): one match opens its page, several
are listed, none says so inside the layout."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from dashboard.core.errors import Problem
from dashboard.lifecycles.find import find

KIND_LABELS = {
    "trace": "Trace",
    "event": "Event",
    "transaction": "Transaction",
    "key": "Idempotency key",
    "service": "Service",
    "detail_type": "Detail type",
}


@login_required
def find_page(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    results: list[dict[str, str]] = []
    error, status = "", 200
    if q.strip():
        try:
            results = find(q)["results"]
        except Problem as problem:
            error, status = problem.message, problem.status
        if len(results) == 1:
            # Every url find() gives is a path on this site (it starts with "/").
            return HttpResponseRedirect(results[0]["url"])
    rows = [{**item, "kind_label": KIND_LABELS.get(item["kind"], item["kind"])} for item in results]
    return render(request, "dashboard/find.html", {"q": q.strip(), "rows": rows, "error": error}, status=status)
