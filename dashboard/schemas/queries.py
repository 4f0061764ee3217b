"""Reading discovered schemas (``GET /api/schemas``, ``/api/schemas/<id>``, the pages) and pinning one.

The JSON API and the pages both call these; the shapes are those of docs/api.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db.models import F, Max, Sum

from dashboard.core.errors import Problem
from dashboard.events.envelope import format_time
from dashboard.schemas import cache
from dashboard.schemas.consumers import consumers_of
from dashboard.schemas.document import json_schema
from dashboard.schemas.models import Schema, SchemaCount, SchemaVersion
from dashboard.schemas.shapes import Definition

# The most types a list answers (breaking changes first, then by name).
LIST_LIMIT = 1000


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def _totals(schema_ids: Iterable[int]) -> dict[tuple[int, int], tuple[int, datetime]]:
    """(schema id, version) -> (events, last seen), the shards added up."""
    rows = (
        SchemaCount.objects.filter(schema_id__in=list(schema_ids))
        .values("schema_id", "version")
        .annotate(events=Sum("events"), last_seen=Max("last_seen"))
    )
    return {(row["schema_id"], row["version"]): (row["events"], row["last_seen"]) for row in rows}


def _summary(schema: Schema, totals: Mapping[tuple[int, int], tuple[int, datetime]]) -> dict[str, Any]:
    counted = [value for (schema_id, _), value in totals.items() if schema_id == schema.id]
    return {
        "id": schema.id,
        "source": schema.source,
        "detail-type": schema.detail_type,
        "latest_version": schema.latest_version,
        "versions": schema.latest_version,
        "events": sum(events for events, _ in counted),
        "first_seen": format_time(schema.first_seen),
        "last_seen": _time(max((seen for _, seen in counted), default=None)),
        "breaking_changes": schema.breaking_changes,
        "last_breaking_at": _time(schema.last_breaking_at),
        "pinned_version": schema.pinned_version,
        "links": {"self": f"/api/schemas/{schema.id}", "page": f"/schemas/{schema.id}/"},
    }


def list_schemas(params: Mapping[str, str], *, breaking_first: bool = False) -> list[dict[str, Any]]:
    """The discovered types, filtered by ``source`` / ``detail_type`` (exact), by name (or, with
    ``breaking_first``, those with a breaking change first, the most recent one first)."""
    query = Schema.objects.filter(latest_version__gt=0)
    for param, column in (("source", "source"), ("detail_type", "detail_type")):
        value = params.get(param)
        if value:
            query = query.filter(**{column: value})
    if breaking_first:
        query = query.order_by(F("last_breaking_at").desc(nulls_last=True), "source", "detail_type")
    else:
        query = query.order_by("source", "detail_type")
    schemas = list(query[:LIST_LIMIT])
    totals = _totals(schema.id for schema in schemas)
    return [_summary(schema, totals) for schema in schemas]


def recent_breaking(limit: int = 5) -> list[dict[str, Any]]:
    """The types whose latest breaking change is the most recent, each with that change (the
    overview shows them): one query when there is none, three otherwise."""
    schemas = list(Schema.objects.filter(last_breaking_at__isnull=False).order_by("-last_breaking_at")[:limit])
    if not schemas:
        return []
    totals = _totals(schema.id for schema in schemas)
    latest: dict[int, SchemaVersion] = {}
    # Without what a version describes: the overview shows the change, never the document.
    for version in (
        SchemaVersion.objects.filter(schema_id__in=[schema.id for schema in schemas], kind=SchemaVersion.BREAKING)
        .defer("types", "required")
        .order_by("number")
    ):
        latest[version.schema_id] = version
    out = []
    for schema in schemas:
        summary = _summary(schema, totals)
        breaking = latest.get(schema.id)
        summary["breaking_version"] = version_json(schema, breaking, totals, document=False) if breaking else None
        out.append(summary)
    return out


def find_schema(schema_id: str | int) -> Schema | None:
    try:
        number = int(schema_id)
    except (TypeError, ValueError):
        return None
    if not 0 < number < 2**63:
        return None
    return Schema.objects.filter(id=number, latest_version__gt=0).first()


def definition_of(version: SchemaVersion) -> Definition:
    return Definition.from_json(version.types, version.required, version.truncated)


def version_json(
    schema: Schema,
    version: SchemaVersion,
    totals: Mapping[tuple[int, int], tuple[int, datetime]],
    *,
    document: bool = True,
) -> dict[str, Any]:
    """A version as the API lists it; without ``document``, no ``schema`` (and the version's
    ``types`` and ``required`` need not be loaded)."""
    events, last_seen = totals.get((schema.id, version.number), (0, None))
    out: dict[str, Any] = {"version": version.number}
    if document:
        title = f"{schema.detail_type} from {schema.source}, version {version.number}"
        out["schema"] = json_schema(definition_of(version), title=title)
    return {
        **out,
        "events": events,
        "first_seen": format_time(version.first_seen),
        "last_seen": _time(last_seen),
        "first_event_id": version.first_event_id,
        "truncated": version.truncated,
        "pinned": schema.pinned_version == version.number,
        "change": {"kind": version.kind, **version.change},
    }


def schema_detail(schema: Schema, *, documents_from: int = 1) -> dict[str, Any]:
    """The summary plus every version (oldest first, with its JSON Schema and change) and the
    consumers of the type (``consumers.consumers_of``). Versions numbered below ``documents_from``
    are listed without their JSON Schema, and what they describe is not read: a page that shows the
    newest few costs the same however many versions came before them."""
    query = SchemaVersion.objects.filter(schema_id=schema.id).order_by("number")
    versions = list(query.filter(number__gte=documents_from))
    if documents_from > 1:
        versions[:0] = query.filter(number__lt=documents_from).defer("types", "required")
    totals = _totals([schema.id])
    out = _summary(schema, totals)
    out["versions"] = [
        version_json(schema, version, totals, document=version.number >= documents_from) for version in versions
    ]
    consumers, impact = consumers_of(schema, versions)
    out["consumers"] = consumers
    for entry in out["versions"]:
        if entry["change"]["kind"] == SchemaVersion.BREAKING:
            entry["impact"] = impact.get(entry["version"], [])
    return out


def pin_version(schema: Schema, body: Any) -> Schema:
    """``{"version": n}`` makes version ``n`` the type's contract (``null`` unpins): new events of
    the type are checked against it at ingest. An unknown version is a 400."""
    if not isinstance(body, dict) or "version" not in body:
        raise Problem("The body must be a JSON object with 'version'.", code="invalid_body", where="version")
    number = body["version"]
    if number is not None:
        if isinstance(number, bool) or not isinstance(number, int):
            raise Problem("'version' must be a version number or null.", code="invalid_parameter", where="version")
        if not SchemaVersion.objects.filter(schema_id=schema.id, number=number).exists():
            raise Problem(
                f"{schema.detail_type} from {schema.source} has no version {number}.",
                code="unknown_version",
                where="version",
            )
    Schema.objects.filter(id=schema.id).update(pinned_version=number)
    schema.pinned_version = number
    cache.forget((schema.source, schema.detail_type))
    return schema


def schema_summary(schema: Schema) -> dict[str, Any]:
    return _summary(schema, _totals([schema.id]))
