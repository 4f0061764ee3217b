"""Lifecycle definitions: validation, and the in-process cache that ingest matches events against.

Ingest looks definitions up on every request, so they are cached per process and reloaded at most
every ``EVENTSCOPE_LIFECYCLE_CACHE_SECONDS``; saving or deleting a lifecycle in this process drops
the cache at once (other processes see the change within the TTL). A request when no lifecycle is
defined costs a clock read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from dashboard.core.errors import Problem
from dashboard.events.envelope import NormalizedEvent, format_time
from dashboard.lifecycles.models import MAX_LIFECYCLE_STEPS, Lifecycle
from dashboard.patterns.engine import CompiledPattern, PatternError, compile_pattern

# The canonical envelope's top-level fields (docs/api.md): a key path starts with one of them.
ENVELOPE_FIELDS = ("version", "id", "source", "detail-type", "time", "account", "region", "resources", "detail")
MAX_KEY_LENGTH = 256
MAX_NAME_LENGTH = 100
MAX_STEP_LENGTH = 256


class LifecycleError(Problem, ValueError):
    """An invalid lifecycle definition (or change); the message says what is wrong."""

    default_code = "invalid_lifecycle"


class LifecycleNameTaken(LifecycleError):
    """Another lifecycle has the name: a conflict (409), as a taken consumer name is."""

    status = 409
    default_code = "conflict"


@dataclass(frozen=True, slots=True)
class LifecycleDef:
    """A lifecycle as ingest uses it: the key path split, steps indexed, the pattern compiled."""

    id: int
    name: str
    key_path: tuple[str, ...]
    steps: tuple[str, ...]
    step_index: dict[str, int]
    timeout: timedelta
    pattern: CompiledPattern | None

    @classmethod
    def of(cls, lifecycle: Lifecycle) -> LifecycleDef:
        steps = tuple(lifecycle.steps)
        return cls(
            id=lifecycle.pk,
            name=lifecycle.name,
            key_path=tuple(lifecycle.key.split(".")),
            steps=steps,
            step_index={step: index for index, step in enumerate(steps)},
            timeout=timedelta(seconds=lifecycle.timeout_seconds),
            pattern=compile_pattern(lifecycle.pattern, limits=False) if lifecycle.pattern is not None else None,
        )

    def key_of(self, entry: NormalizedEvent) -> str | None:
        """The business key ``entry`` carries at this lifecycle's key path, or None.

        Strings and numbers are keys (``42`` and ``"42"`` are the same key); a missing path, an
        empty string, an object, a list, a boolean or a value over 256 characters is no key.
        """
        value = envelope_value(entry, self.key_path[0])
        for part in self.key_path[1:]:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
            return None
        return value


def envelope_value(entry: NormalizedEvent, field: str) -> Any:
    """One top-level field of ``entry``'s canonical envelope, without building the whole envelope."""
    if field == "detail":
        return entry.detail
    if field == "detail-type":
        return entry.detail_type
    if field == "source":
        return entry.source
    if field == "id":
        return entry.event_id
    if field == "time":
        return format_time(entry.time)
    if field == "resources":
        return entry.resources
    if field == "account":
        return entry.account
    if field == "region":
        return entry.region
    if field == "version":
        return "0"
    return None


def check_lifecycle(data: Any) -> dict[str, Any]:
    """Validate a lifecycle definition (the body of ``POST /api/lifecycles``); return the model's
    field values, or raise LifecycleError with the reason. Whether the name is taken is not checked
    here (see ``create_lifecycle``)."""
    if not isinstance(data, dict):
        raise LifecycleError("A lifecycle must be a JSON object.")
    unknown = sorted(set(data) - {"name", "key", "steps", "timeout_seconds", "pattern"})
    if unknown:
        raise LifecycleError(f"Unknown field(s): {', '.join(unknown)}.")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LifecycleError("'name' is required and must be a non-empty string.")
    if len(name) > MAX_NAME_LENGTH:
        raise LifecycleError(f"'name' is longer than {MAX_NAME_LENGTH} characters.")
    key = data.get("key")
    if not isinstance(key, str) or not key.strip():
        raise LifecycleError("'key' is required: a dotted path into the event envelope, e.g. 'detail.order-id'.")
    parts = key.split(".")
    if len(key) > MAX_KEY_LENGTH or any(not part for part in parts):
        raise LifecycleError(f"'key' is not a dotted path: {key!r}.")
    if parts[0] not in ENVELOPE_FIELDS:
        raise LifecycleError(
            f"'key' must start with an envelope field ({', '.join(ENVELOPE_FIELDS)}), not {parts[0]!r}."
        )
    if parts[0] != "detail" and len(parts) > 1:
        raise LifecycleError(f"'key' goes below {parts[0]!r}, which holds no object.")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise LifecycleError("'steps' is required: a non-empty list of detail-types, in order.")
    if len(steps) > MAX_LIFECYCLE_STEPS:
        raise LifecycleError(f"'steps' has more than {MAX_LIFECYCLE_STEPS} steps.")
    for step in steps:
        if not isinstance(step, str) or not step.strip() or len(step) > MAX_STEP_LENGTH:
            raise LifecycleError("Each step must be a non-empty detail-type string of at most 256 characters.")
    repeated = sorted({step for step in steps if steps.count(step) > 1})
    if repeated:
        raise LifecycleError(f"Steps must be unique; repeated: {', '.join(repeated)}.")
    timeout = data.get("timeout_seconds")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 < timeout <= 2**31 - 1:
        raise LifecycleError("'timeout_seconds' is required and must be a whole number of seconds above 0.")
    pattern = data.get("pattern")
    if pattern is not None:
        try:
            compile_pattern(pattern)
        except PatternError as err:
            raise LifecycleError(f"Invalid event pattern: {err}") from None
    if any("\x00" in text for text in (name, key, *steps)):
        raise LifecycleError("Names, key paths and steps must not contain the character U+0000 (NUL).")
    return {"name": name.strip(), "key": key, "steps": steps, "timeout_seconds": timeout, "pattern": pattern}


def create_lifecycle(data: Any) -> Lifecycle:
    """Validate and store a new lifecycle; LifecycleError when invalid or when the name is taken."""
    from django.db import IntegrityError, transaction

    fields = check_lifecycle(data)
    if Lifecycle.objects.filter(name=fields["name"]).exists():
        raise LifecycleNameTaken(f"A lifecycle named {fields['name']!r} already exists.")
    try:
        with transaction.atomic():
            return Lifecycle.objects.create(**fields)
    except IntegrityError:  # created concurrently under the same name
        raise LifecycleNameTaken(f"A lifecycle named {fields['name']!r} already exists.") from None


def lifecycle_json(lifecycle: Lifecycle) -> dict[str, Any]:
    return {
        "id": lifecycle.pk,
        "name": lifecycle.name,
        "key": lifecycle.key,
        "steps": lifecycle.steps,
        "timeout_seconds": lifecycle.timeout_seconds,
        "pattern": lifecycle.pattern,
        "created_at": format_time(lifecycle.created_at),
    }


class _Cache:
    """Process-wide lifecycle definitions with a TTL. A reload that started before an invalidation
    does not store its (possibly stale) result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._generation = 0
        self._defs: tuple[LifecycleDef, ...] | None = None

    def get(self) -> tuple[LifecycleDef, ...]:
        defs, loaded_at = self._defs, self._loaded_at
        if defs is not None and time.monotonic() - loaded_at < settings.EVENTSCOPE_LIFECYCLE_CACHE_SECONDS:
            return defs
        generation = self._generation
        started = time.monotonic()
        fresh = tuple(LifecycleDef.of(lifecycle) for lifecycle in Lifecycle.objects.order_by("id"))
        with self._lock:
            if generation == self._generation:
                self._defs, self._loaded_at = fresh, started
        return fresh

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._defs = None


_cache = _Cache()


def active_lifecycles() -> tuple[LifecycleDef, ...]:
    """Every defined lifecycle, from the process cache (reloaded when older than the TTL)."""
    return _cache.get()


def forget_lifecycles(**_: Any) -> None:
    """Drop the cached definitions (after a change in this process, and between tests)."""
    _cache.clear()


post_save.connect(forget_lifecycles, sender=Lifecycle, dispatch_uid="lifecycle-cache-save")
post_delete.connect(forget_lifecycles, sender=Lifecycle, dispatch_uid="lifecycle-cache-delete")
