"""A JSONField that encodes and decodes with orjson: the stored text is the same JSON, written and read
several times faster."""

from __future__ import annotations

from typing import Any

import orjson
from django.db import models
from django.db.models.fields.json import KeyTransform


class FastJSONField(models.JSONField):  # type: ignore[type-arg]
    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None and self.null:
            return None
        # Non-str keys and big ints are rejected by orjson; they cannot come from parsed JSON.
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # Every event read (pages, the API, a replay's deliveries) decodes its detail: orjson does it
        # in a fraction of the time. What orjson does not take (NaN, integers past 64 bits, which
        # older rows may hold) and key lookups go the standard way.
        if isinstance(value, str) and self.decoder is None and not isinstance(expression, KeyTransform):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)


class WrittenJSONField(FastJSONField):
    """A FastJSONField for columns only this project writes, always from orjson: no ``JSON_VALID``
    check on SQLite, which re-parses the whole value on every insert and update. Ingest rewrites
    several of these per tracked event (``Transaction``), so the check was measurable there."""

    def db_check(self, connection: Any) -> str | None:
        return None
