"""``/schemas/`` (the discovered types, breaking changes first) and ``/schemas/<id>/`` (one type's
versions side by side, its consumers, and the pin)."""

from __future__ import annotations

import orjson
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dashboard.core.errors import Problem
from dashboard.pages.site import not_found_page
from dashboard.schemas.models import SchemaVersion
from dashboard.schemas.queries import find_schema, list_schemas, pin_version, schema_detail
from dashboard.schemas.tree import version_tree

# The newest versions shown side by side; the API lists them all.
SIDE_BY_SIDE = 8


def _form_version(raw: str) -> int | str | None:
    """The pin form's version: a number, None for "none", else the text as sent (which
    ``pin_version`` refuses with a 400). Only ASCII digits, and few of them, are read as a number:
    ``int()`` fails on digits such as "²" and on thousands of them."""
    if raw == "":
        return None
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 20 else raw


@login_required
def schemas_page(request: HttpRequest) -> HttpResponse:
    form = {name: request.GET.get(name, "") for name in ("source", "detail_type")}
    schemas = list_schemas(request.GET, breaking_first=True)
    for entry in schemas:
        entry["detail_type"] = entry["detail-type"]  # templates cannot spell "detail-type"
    return render(request, "dashboard/schemas.html", {"schemas": schemas, "form": form})


@login_required
def schema_page(request: HttpRequest, schema_id: str) -> HttpResponse:
    schema = find_schema(schema_id)
    if schema is None:
        return not_found_page(
            request,
            what=f"No schema with the id {schema_id}",
            detail="Schemas are discovered from the events as they arrive. See the list of schemas.",
        )
    error = ""
    if request.method == "POST":  # the pin form (a logged-in user holds the operate scope)
        try:
            pin_version(schema, {"version": _form_version(request.POST.get("version", ""))})
            return redirect("schema", schema_id=schema.id)
        except Problem as problem:
            error = problem.message
    # Versions are numbered 1 to latest_version, none removed: the newest are known without a query,
    # and only theirs are read in full and made into JSON Schemas.
    first_shown = max(schema.latest_version - SIDE_BY_SIDE + 1, 1)
    detail = schema_detail(schema, documents_from=first_shown)
    detail["detail_type"] = schema.detail_type  # templates cannot spell "detail-type"
    shown = [entry for entry in detail["versions"] if entry["version"] >= first_shown]
    numbers = [entry["version"] for entry in shown]
    # The same versions as the columns, even when one was made since (it waits for the next load).
    versions = list(SchemaVersion.objects.filter(schema_id=schema.id, number__in=numbers).order_by("number"))
    for entry in shown:
        entry["schema_text"] = orjson.dumps(entry["schema"], option=orjson.OPT_INDENT_2).decode()
    return render(
        request,
        "dashboard/schema.html",
        {
            "schema": detail,
            "shown": shown,
            "rows": version_tree(versions),
            "hidden_versions": len(detail["versions"]) - len(shown),
            "breaking": [entry for entry in detail["versions"] if entry["change"]["kind"] == "breaking"],
            "error": error,
        },
        status=400 if error else 200,
    )
