"""The OpenAPI side of discovered schemas (docs/api.md, "Schemas"): components and operations,
merged into the document by ``openapi.document()``."""

from __future__ import annotations

from dashboard.api.openapi import (
    TIME,
    Schema,
    answer,
    array,
    integer,
    json_body,
    nullable,
    obj,
    operation,
    path_param,
    query,
    ref,
    text,
)

TAG = "Schemas"


def schema_components() -> dict[str, Schema]:
    rate = obj(
        {
            "spans": integer(minimum=0),
            "errors": integer(minimum=0),
            "error_rate": nullable({"type": "number", "minimum": 0, "maximum": 1}),
        }
    )
    summary = {
        "id": integer(minimum=1),
        "source": text(),
        "detail-type": text(),
        "latest_version": integer("The newest version's number (versions are numbered from 1).", minimum=1),
        "versions": integer("How many versions there are.", minimum=1),
        "events": integer("Events counted in all versions.", minimum=0),
        "first_seen": TIME,
        "last_seen": nullable(TIME),
        "breaking_changes": integer("How many versions began with a breaking change.", minimum=0),
        "last_breaking_at": nullable({**TIME, "description": "When the newest breaking version began."}),
        "pinned_version": nullable(integer("The version new events are checked against.", minimum=1)),
        "links": obj({"self": text(), "page": text()}),
    }
    return {
        "SchemaSummary": obj(summary, description="A discovered event type: one (source, detail-type)."),
        "SchemaList": obj({"results": array(ref("SchemaSummary"))}),
        "SchemaChange": obj(
            {
                "kind": text(enum=["initial", "compatible", "breaking"]),
                "added": array(text(), description="Paths (JSON Pointer, * for array items) new in this version."),
                "removed": array(text(), description="Paths present in every event before, missing now."),
                "type_changed": array(obj({"path": text(), "from": text(), "to": text()})),
            }
        ),
        "SchemaVersion": obj(
            {
                "version": integer(minimum=1),
                "schema": {"type": "object", "description": "A JSON Schema (draft 2020-12) document."},
                "events": integer(minimum=0),
                "first_seen": TIME,
                "last_seen": nullable(TIME),
                "first_event_id": text("The stored id of the event that began the version."),
                "truncated": {"type": "boolean", "description": "Past discovery's bounds (docs/schemas.md)."},
                "pinned": {"type": "boolean"},
                "change": ref("SchemaChange"),
                "impact": array(
                    obj(
                        {
                            "service": text(),
                            "seen": {"type": "boolean"},
                            "before": rate,
                            "after": rate,
                            "started_failing": {"type": "boolean"},
                        }
                    ),
                    description="Breaking versions only: each consumer's processing spans before and since.",
                ),
            },
            required=[
                "version",
                "schema",
                "events",
                "first_seen",
                "last_seen",
                "first_event_id",
                "truncated",
                "pinned",
                "change",
            ],
        ),
        "SchemaDetail": obj(
            {
                **summary,
                "versions": array(ref("SchemaVersion"), description="Oldest first."),
                "consumers": array(
                    obj(
                        {
                            "service": text(),
                            "versions": array(integer(minimum=1)),
                            "spans": integer(minimum=0),
                            "errors": integer(minimum=0),
                            "last_seen": nullable(text()),
                        }
                    ),
                    description="Services whose spans processed events of the type (links or children of "
                    "the publishing span).",
                ),
            }
        ),
        "SchemaPin": obj({"version": nullable(integer(minimum=1))}, closed=False),
    }


def schema_paths() -> dict[str, Schema]:
    schema_id = path_param("schema_id", "The schema's id.")
    return {
        "/api/schemas": {
            "get": operation(
                "listSchemas",
                "The event types discovered from the traffic",
                TAG,
                scope="read",
                parameters=[
                    query("source", text(), "Exactly this source."),
                    query("detail_type", text(), "Exactly this detail-type."),
                ],
                ok={200: answer("The types, by source and detail-type.", ref("SchemaList"))},
            )
        },
        "/api/schemas/{schema_id}": {
            "get": operation(
                "getSchema",
                "One type's versions, their JSON Schemas and changes, and its consumers",
                TAG,
                scope="read",
                parameters=[schema_id],
                ok={200: answer("The schema.", ref("SchemaDetail"))},
                errors=[404],
            )
        },
        "/api/schemas/{schema_id}/pin": {
            "post": operation(
                "pinSchema",
                "Make a version the type's contract",
                TAG,
                scope="operate",
                parameters=[schema_id],
                body=json_body(ref("SchemaPin"), '{"version": n}; null unpins.'),
                description="New events of the type are then checked against it at ingest (never refused); "
                "GET /api/events?schema_valid=false lists those that failed. A version the type does not "
                "have is a 400.",
                ok={200: answer("The schema, pinned.", ref("SchemaSummary"))},
                errors=[404],
            )
        },
    }


__all__ = ["schema_components", "schema_paths"]
