"""Stored events: the canonical envelope plus what came with it."""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField


class Event(models.Model):
    """One stored event.

    ``id`` is the stored id that ingest answers with; ``event_id`` is the producer's id. The fields
    ``event_id, source, detail_type, time, account, region, resources, detail`` make the canonical
    EventBridge envelope; ``extra`` keeps other attributes (e.g. CloudEvents ``subject``) and ``raw``
    the entry exactly as it was received.
    """

    id = models.CharField(max_length=26, primary_key=True)
    event_id = models.CharField(max_length=256)
    source = models.CharField(max_length=256)
    detail_type = models.CharField(max_length=256)
    time = models.DateTimeField()
    account = models.CharField(max_length=64, default="")
    region = models.CharField(max_length=64, default="")
    resources = FastJSONField(default=list)
    detail = FastJSONField(default=dict)
    extra = FastJSONField(default=dict)
    raw = models.TextField(default="")
    received_at = models.DateTimeField()
    format = models.CharField(max_length=16)
    trace_id = models.CharField(max_length=32, default="")
    parent_span_id = models.CharField(max_length=16, default="")
    idempotency_key = models.CharField(max_length=256, default="")
    replay_name = models.CharField(max_length=256, default="")
    # The lifecycles the event belongs to, decided at ingest: JSON ``[[lifecycle id, key, step index
    # or null for an update], …]``, or NULL for none. On SQLite records are folded from it
    # (``dashboard.lifecycles.fold``). Nullable: adding it is then a cheap ALTER TABLE.
    lifecycle_matches = models.TextField(null=True, blank=True, default=None)  # noqa: DJ001
    # The check against the type's pinned schema version (dashboard.schemas), made at ingest: NULL
    # when no version was pinned, "" when the event validated, else why it did not.
    schema_error = models.TextField(null=True, blank=True, default=None)  # noqa: DJ001

    class Meta:
        db_table = "dashboard_event"  # the app it was born in
        constraints = [
            # event_id first: the duplicate check after an insert looks rows up by event_id alone.
            models.UniqueConstraint(fields=["event_id", "source"], name="event_id_source_unique"),
        ]
        indexes = [
            models.Index(fields=["source", "detail_type", "id"], name="event_source_type_id"),
            models.Index(fields=["detail_type", "id"], name="event_type_id"),
            models.Index(fields=["trace_id"], name="event_trace"),
            # Stored ids are ULIDs, ordered as events were received: (key, id) lists a key's ledger in
            # arrival order, and id ranges stand in for a received_at index (one index less to write).
            models.Index(fields=["idempotency_key", "id"], name="event_key"),
            models.Index(fields=["time"], name="event_time"),
            # GET /api/events?schema_valid=false: the failures only, newest first.
            models.Index(fields=["id"], condition=models.Q(schema_error__gt=""), name="event_schema_invalid"),
        ]

    def __str__(self) -> str:
        return f"{self.detail_type} from {self.source} ({self.id})"


class EventKey(models.Model):
    """PostgreSQL only: the dedupe key ``(event_id, source)`` of a stored event, and its stored id.

    The event table there is partitioned by day (``events.0003``), so its unique keys can only be
    unique within a day; this table, not partitioned, keeps ``(source, event_id)`` unique across
    days (``dashboard.events.keys``). SQLite has no such table: its event table keeps the constraint.
    """

    pk = models.CompositePrimaryKey("event_id", "source")
    event_id = models.CharField(max_length=256)
    source = models.CharField(max_length=256)
    stored_id = models.CharField(max_length=26)

    class Meta:
        db_table = "dashboard_event_key"

    def __str__(self) -> str:
        return f"{self.source}/{self.event_id} -> {self.stored_id}"
