"""A type's versions side by side, as rows of a tree: one row per path, one cell per version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dashboard.schemas.models import SchemaVersion
from dashboard.schemas.shapes import ITEMS, unescape_key


def _tree_order(path: str) -> list[str]:
    # Segment by segment: each path comes right after its parent, its children right after it.
    return path.split("/")


# The deepest indentation the page draws (a class per level: the pages' CSP allows no inline style).
MAX_INDENT = 8


def version_tree(versions: Sequence[SchemaVersion]) -> list[dict[str, Any]]:
    """``[{"path", "depth", "indent", "label", "cells": [{"types", "required", "mark"} | None, …]}]``, a cell
    per version in ``versions``' order; ``mark`` is ``added``, ``changed`` (a new type), ``removed``
    (no longer in every event) or ``""``, as that version's change says."""
    paths = sorted({path for version in versions for path in version.types if path}, key=_tree_order)
    marks: list[dict[str, str]] = []
    for version in versions:
        mark: dict[str, str] = {}
        for path in version.change.get("added", []):
            mark[path] = "added"
        for entry in version.change.get("type_changed", []):
            mark[entry["path"]] = "changed"
        for path in version.change.get("removed", []):
            mark[path] = "removed"
        marks.append(mark)
    rows = []
    for path in paths:
        segment = path.rpartition("/")[2]
        cells: list[dict[str, Any] | None] = []
        for version, mark in zip(versions, marks, strict=True):
            kinds = version.types.get(path)
            cells.append(
                None
                if kinds is None
                else {"types": " | ".join(kinds), "required": path in version.required, "mark": mark.get(path, "")}
            )
        rows.append(
            {
                "path": path,
                "depth": path.count("/") - 1,
                "indent": min(path.count("/") - 1, MAX_INDENT),
                "label": "[items]" if segment == ITEMS else unescape_key(segment),
                "cells": cells,
            }
        )
    return rows
