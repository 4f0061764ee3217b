"""What ingest fits events against: each type's latest and pinned versions, cached per process.

Ingest looks a type up for every event, so the answer is kept in-process and reloaded at most every
``EVENTSCOPE_SCHEMA_CACHE_SECONDS``. Stale is safe for discovery: versions only grow, so an event
that fits an older version fits the latest, and one that does not is settled against the database
inside the write transaction anyway. A pin made in another process is picked up within the TTL; one
made in this process at once (``forget``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from dashboard.schemas.models import Schema, SchemaVersion
from dashboard.schemas.shapes import Definition

TypeKey = tuple[str, str]  # (source, detail-type)


@dataclass(frozen=True, slots=True)
class KnownType:
    """A type's state as last loaded; ``latest`` None while the type has no version yet."""

    schema_id: int | None
    latest: Definition | None
    pinned: Definition | None
    pinned_version: int | None
    loaded_at: float


_cache: dict[TypeKey, KnownType] = {}


def known_type(key: TypeKey, now: float) -> KnownType:
    """``key``'s state, from the cache or the database (replacing a dict entry is atomic: threads
    that load the same type at once both load it, and one of the answers stays)."""
    known = _cache.get(key)
    if known is not None and now - known.loaded_at < settings.EVENTSCOPE_SCHEMA_CACHE_SECONDS:
        return known
    known = _load(key, now)
    if len(_cache) > 10_000:  # bounded: a flood of new types must not grow the cache without end
        _cache.clear()
    _cache[key] = known
    return known


def _load(key: TypeKey, now: float) -> KnownType:
    schema = (
        Schema.objects.filter(source=key[0], detail_type=key[1]).only("id", "latest_version", "pinned_version").first()
    )
    if schema is None:
        return KnownType(None, None, None, None, now)
    numbers = {schema.latest_version, schema.pinned_version} - {None, 0}
    versions = {
        version.number: Definition.from_json(version.types, version.required, version.truncated)
        for version in SchemaVersion.objects.filter(schema_id=schema.id, number__in=numbers).only(
            "number", "types", "required", "truncated"
        )
    }
    pinned = schema.pinned_version
    return KnownType(
        schema.id, versions.get(schema.latest_version), versions.get(pinned) if pinned else None, pinned, now
    )


def forget(key: TypeKey | None = None) -> None:
    """Drop one type (after this process changed it) or every type (between tests)."""
    if key is None:
        _cache.clear()
    else:
        _cache.pop(key, None)
