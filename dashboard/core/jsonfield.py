"""A JSONField that encodes with orjson: the stored text is the same JSON, written several times faster."""

from __future__ import annotations

from typing import Any

import orjson
from django.db import models


class FastJSONField(models.JSONField):  # type: ignore[type-arg]
    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None and self.null:
            return None
        # Non-str keys and big ints are rejected by orjson; they cannot come from parsed JSON.
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class WrittenJSONField(FastJSONField):
    """A FastJSONField for columns only this project writes, always from orjson: no ``JSON_VALID``
    check on SQLite, which re-parses the whole value on every insert and update. Ingest rewrites
    several of these per tracked event (``Transaction``), so the check was measurable there."""

    def db_check(self, connection: Any) -> str | None:
        return None
