"""A version as a JSON Schema (draft 2020-12) document.

Each described path gets the types seen at it; an object lists the members it has seen
(``properties``) and those present in every event (``required``); an array describes its items. What
was not described (past the bounds of ``shapes``, or members never seen) is left open: no
``additionalProperties: false``, so every event counted in the version validates, and a new member
is the compatible change it is.
"""

from __future__ import annotations

from typing import Any

from dashboard.schemas.shapes import ITEMS, Definition, path_order, unescape_key

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(definition: Definition, *, title: str = "") -> dict[str, Any]:
    children: dict[str, list[str]] = {}
    for path in sorted(definition.types, key=path_order):
        if path:
            parent, _, _ = path.rpartition("/")
            children.setdefault(parent, []).append(path)

    def node(path: str) -> dict[str, Any]:
        kinds = sorted(definition.types.get(path, ()))
        out: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds} if kinds else {}
        members = children.get(path, [])
        properties: dict[str, Any] = {}
        required: list[str] = []
        for child in members:
            segment = child.rpartition("/")[2]
            if segment == ITEMS and "array" in kinds:
                out["items"] = node(child)
                if "object" not in kinds:
                    continue
            key = unescape_key(segment)
            properties[key] = node(child)
            if child in definition.required:
                required.append(key)
        if properties and "object" in kinds:
            out["properties"] = properties
            if required:
                out["required"] = required
        return out

    document: dict[str, Any] = {"$schema": DIALECT}
    if title:
        document["title"] = title
    document.update(node(""))
    if definition.truncated:
        document["$comment"] = "Truncated: parts of the events past Eventscope's bounds are not described."
    return document
