"""``GET /api/schemas`` and ``GET /api/schemas/<id>`` (read): the schemas discovered from the traffic;
``POST /api/schemas/<id>/pin`` (operate) makes one version the type's contract (docs/schemas.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.api.body import json_body
from dashboard.core.http import ApiError, api_view, json_response
from dashboard.schemas.models import Schema
from dashboard.schemas.queries import find_schema, list_schemas, pin_version, schema_detail, schema_summary


def _found(schema_id: str) -> Schema:
    schema = find_schema(schema_id)
    if schema is None:
        raise ApiError(404, "not_found", f"No schema with id {schema_id!r}.")
    return schema


@api_view("read")
def list_all(request: HttpRequest) -> HttpResponse:
    return json_response({"results": list_schemas(request.GET)})


@api_view("read")
def read_one(request: HttpRequest, schema_id: str) -> HttpResponse:
    return json_response(schema_detail(_found(schema_id)))


@api_view("operate", methods=("POST",))
def pin(request: HttpRequest, schema_id: str) -> HttpResponse:
    schema = _found(schema_id)
    return json_response(schema_summary(pin_version(schema, json_body(request))))
