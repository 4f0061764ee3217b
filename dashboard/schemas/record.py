"""Recording a batch's events in their types' versions, inside ingest's write transaction.

Per type, in one order (source, then detail-type) so that two transactions never wait on each
other's locks in a cycle:

- every event fitted the type's latest version as the process knew it (the common case): one
  statement adds them to the latest version's count, whatever version that is now (versions only
  grow, so an event that fits an older version fits the latest); when every type of the batch is
  in that case, one statement counts them all, in the same order;
- otherwise the type's row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the write
  lock is already held), its latest version read from the database, and each unsettled event fitted
  to it in turn or made the first event of a new version (``shapes.next_version``).

No row is written per event: a batch writes one count row per type (and a version row per new
version). ``SchemaCount`` is sharded so that concurrent requests on PostgreSQL rarely touch the same
row.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from dashboard.core.bulk import db_datetime
from dashboard.schemas.models import Schema, SchemaCount, SchemaVersion
from dashboard.schemas.shapes import Definition, Shape, fits, next_version

TypeKey = tuple[str, str]


class TypeEvents:
    """One type's events in a batch, as ``prepare`` saw them: ``(stored id, shape)`` in request
    order, whether every one fitted the type's latest version as the process knew it, and that
    type's row (None when it knew of none)."""

    __slots__ = ("events", "fitted", "schema_id")

    def __init__(self, schema_id: int | None) -> None:
        self.schema_id = schema_id
        self.fitted = schema_id is not None
        self.events: list[tuple[str, Shape]] = []


def record_batch(by_type: dict[TypeKey, TypeEvents], when: datetime) -> set[TypeKey]:
    """Count each type's events and start the versions they need; answer the types whose rows
    changed beyond their counts. Precondition: inside the batch's write transaction. Uses only the
    current connection."""
    changed: set[TypeKey] = set()
    shard = random.randrange(SchemaCount.SHARDS) if connection.vendor == "postgresql" else 0
    stamp = db_datetime(when)
    keys = [key for key in sorted(by_type) if by_type[key].events]
    fitted = {
        found.schema_id: len(found.events)
        for found in (by_type[key] for key in keys)
        if found.fitted and found.schema_id is not None
    }
    # The common case, every type fitted: one statement counts them all (in the loop's order).
    counted = _count_all_in_latest(fitted, shard, stamp) if keys and len(fitted) == len(keys) else set()
    for key in keys:
        found = by_type[key]
        schema_id = found.schema_id
        if schema_id in counted:
            continue
        if found.fitted and schema_id is not None and _count_in_latest(schema_id, len(found.events), shard, stamp):
            continue
        _settle(key, found.events, when, shard, stamp)
        changed.add(key)
    return changed


@functools.cache
def _upsert(vendor: str, select_latest: bool) -> str:
    """Add to a count row, creating it when new: into the type's latest version (``select_latest``,
    params: shard, events, last seen, schema id; no row when the type is unknown) or a given one
    (params: schema id, version, shard, events, last seen). Table names only: no input in the text."""
    table, schemas = SchemaCount._meta.db_table, Schema._meta.db_table
    latest = "GREATEST" if vendor == "postgresql" else "MAX"
    source = (
        f"SELECT id, latest_version, %s, %s, %s FROM {schemas} WHERE id = %s AND latest_version > 0"  # noqa: S608
        if select_latest
        else "VALUES (%s, %s, %s, %s, %s)"
    )
    return (
        f"INSERT INTO {table} (schema_id, version, shard, events, last_seen) {source} "
        f"ON CONFLICT (schema_id, version, shard) DO UPDATE SET events = {table}.events + excluded.events, "
        f"last_seen = {latest}({table}.last_seen, excluded.last_seen)"
    )


def _count_in_latest(schema_id: int, events: int, shard: int, stamp: Any) -> bool:
    """Add ``events`` to the latest version of type ``schema_id``; False when there is no such type
    (it was never committed: the caller settles the events from scratch)."""
    with connection.cursor() as cursor:
        cursor.execute(_upsert(connection.vendor, True), [shard, events, stamp, schema_id])
        return cursor.rowcount > 0


@functools.cache
def _upsert_all_latest(vendor: str, types: int) -> str:
    """Add to the latest version's count row of ``types`` types at once, in (source, detail-type)
    order as the per-type statements go (params: shard, then schema id and events for each type,
    then last seen, then the schema ids); answers the schema ids counted (a type never committed is
    not). Table names only: no input in the text."""
    table, schemas = SchemaCount._meta.db_table, Schema._meta.db_table
    latest = "GREATEST" if vendor == "postgresql" else "MAX"
    cases = " ".join(["WHEN %s THEN %s"] * types)
    return (
        f"INSERT INTO {table} (schema_id, version, shard, events, last_seen) "  # noqa: S608
        f"SELECT id, latest_version, %s, CASE id {cases} END, %s FROM {schemas} "
        f"WHERE id IN ({', '.join(['%s'] * types)}) AND latest_version > 0 ORDER BY source, detail_type "
        f"ON CONFLICT (schema_id, version, shard) DO UPDATE SET events = {table}.events + excluded.events, "
        f"last_seen = {latest}({table}.last_seen, excluded.last_seen) RETURNING schema_id"
    )


def _count_all_in_latest(events: dict[int, int], shard: int, stamp: Any) -> set[int]:
    """Add ``events`` (by schema id) to the latest versions of their types in one statement; the
    schema ids counted (the others the caller settles, as ``_count_in_latest`` answering False)."""
    cases = [value for schema_id, count in events.items() for value in (schema_id, count)]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_all_latest(connection.vendor, len(events)), [shard, *cases, stamp, *events])
        return {int(schema_id) for (schema_id,) in cursor.fetchall()}


def _add_counts(schema_id: int, counts: dict[int, int], shard: int, stamp: Any) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            _upsert(connection.vendor, False),
            [(schema_id, number, shard, n, stamp) for number, n in sorted(counts.items())],
        )


def _locked_schema(key: TypeKey, when: datetime) -> Schema:
    """The type's row, created if new, locked until the transaction ends. A concurrent creator of
    the same type makes the insert wait for its commit and then do nothing (no unique violation)."""
    Schema.objects.bulk_create([Schema(source=key[0], detail_type=key[1], first_seen=when)], ignore_conflicts=True)
    return Schema.objects.select_for_update().get(source=key[0], detail_type=key[1])


def _settle(key: TypeKey, events: Sequence[tuple[str, Shape]], when: datetime, shard: int, stamp: Any) -> None:
    schema = _locked_schema(key, when)
    number = schema.latest_version
    latest: Definition | None = None
    if number:
        row = SchemaVersion.objects.only("types", "required", "truncated").get(schema_id=schema.id, number=number)
        latest = Definition.from_json(row.types, row.required, row.truncated)
    counts: dict[int, int] = {}
    new_versions: list[SchemaVersion] = []
    breaking = 0
    for stored_id, shape in events:
        if latest is not None and fits(latest, shape):
            counts[number] = counts.get(number, 0) + 1
            continue
        latest, change = next_version(latest, shape)
        number += 1
        counts[number] = 1
        breaking += change.kind == SchemaVersion.BREAKING
        new_versions.append(
            SchemaVersion(
                schema_id=schema.id,
                number=number,
                types=latest.types_json(),
                required=latest.required_json(),
                truncated=latest.truncated,
                kind=change.kind,
                change={"added": change.added, "removed": change.removed, "type_changed": change.type_changed},
                first_seen=when,
                first_event_id=stored_id,
            )
        )
    if new_versions:
        SchemaVersion.objects.bulk_create(new_versions)
        updates: dict[str, object] = {"latest_version": number}
        if breaking:
            updates.update(breaking_changes=schema.breaking_changes + breaking, last_breaking_at=when)
        Schema.objects.filter(id=schema.id).update(**updates)
    _add_counts(schema.id, counts, shard, stamp)
