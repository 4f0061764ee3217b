"""The event side's data: API tokens and events (the canonical envelope plus what came with it)."""

from __future__ import annotations

from django.db import models

from dashboard.jsonfield import FastJSONField, WrittenJSONField

SCOPES = ("ingest", "read", "operate")


class ApiToken(models.Model):
    """A named credential with scopes.

    Neither the bearer token nor the SigV4 secret is stored: both are derived from ``SECRET_KEY``,
    ``key_id`` and a per-token salt (see ``dashboard.tokens``), so a copy of the database leaks no
    usable credential. Deleting the row or setting ``revoked_at`` revokes it.
    """

    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=32, unique=True)
    salt = models.CharField(max_length=64)
    scopes = FastJSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first successful answer to a create request that carried an ``Idempotency-Key`` header
    (``dashboard.api.idempotency``): a retry with that key, by the same caller (``owner``: a token's
    key id or a user name) on the same ``endpoint``, gets this answer again instead of creating a
    second object. ``fingerprint`` is a hash of the request body, so the key reused for another
    request is refused. The unique constraint is what keeps two concurrent duplicates from both
    creating. Records are kept for a bounded time, then purged."""

    owner = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    body = models.TextField(blank=True, default="")
    headers = FastJSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "endpoint", "key"], name="idempotency_owner_endpoint_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key} ({self.status})"


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
    # (``dashboard.transactions.fold``). Nullable: adding it is then a cheap ALTER TABLE.
    lifecycle_matches = models.TextField(null=True, blank=True, default=None)  # noqa: DJ001

    class Meta:
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
        ]

    def __str__(self) -> str:
        return f"{self.detail_type} from {self.source} ({self.id})"


# --- Transactions (CONTRACT §7): lifecycles per business key ---------------------------------------

# A transaction keeps which steps it has seen as bits of one integer, so "missing step X" and the
# funnel's per-step counts are plain integer arithmetic in SQL. 62 leaves the sign bit alone.
MAX_LIFECYCLE_STEPS = 62


class Lifecycle(models.Model):
    """A business process followed per key: events whose ``key`` path (a dotted path into the
    canonical envelope) holds a value belong to that value's transaction; an event whose
    ``detail-type`` is one of ``steps`` advances it, any other (matching) event is an update.

    ``pattern`` (an EventBridge event pattern, or None for every event) narrows which events count.
    Past ``timeout_seconds`` after its first event, a transaction with steps missing is incomplete.
    """

    name = models.CharField(max_length=100, unique=True)
    key = models.CharField(max_length=256)
    steps = FastJSONField(default=list)
    timeout_seconds = models.PositiveIntegerField()
    pattern = FastJSONField(null=True, blank=True, default=None)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Transaction(models.Model):
    """The record of one key's way through a lifecycle; partial until every step has been seen.

    ``steps_seen`` maps each seen step to ``{"time", "id", "event_id", "count"}`` (the earliest
    occurrence by event time, and how many times the step was seen); ``steps_mask`` has bit ``i``
    set when ``lifecycle.steps[i]`` was seen, ``first_missing`` is the index of the first step not
    seen yet (None once complete). ``status`` is what was last persisted (by ingest or the deadline
    sweep); readers compute the current status against ``deadline`` at query time.
    """

    IN_PROGRESS, COMPLETE, INCOMPLETE = "in_progress", "complete", "incomplete"

    # No index of its own: the unique (lifecycle, key) constraint leads with it.
    lifecycle = models.ForeignKey(Lifecycle, on_delete=models.CASCADE, related_name="transactions", db_index=False)
    key = models.CharField(max_length=256)
    status = models.CharField(max_length=16, default=IN_PROGRESS)
    steps_mask = models.BigIntegerField(default=0)
    missing_count = models.PositiveSmallIntegerField(default=0)
    first_missing = models.PositiveSmallIntegerField(null=True, blank=True)
    steps_seen = WrittenJSONField(default=dict)
    out_of_order = models.BooleanField(default=False)
    out_of_order_events = WrittenJSONField(default=list)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    deadline = models.DateTimeField()
    overdue_at = models.DateTimeField(null=True, blank=True)
    duplicates = models.PositiveIntegerField(default=0)
    updates = models.PositiveIntegerField(default=0)
    trace_ids = WrittenJSONField(default=list)
    idempotency_keys = WrittenJSONField(default=list)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One record per (lifecycle, key): concurrent ingest meets here (INSERT … ON CONFLICT).
            models.UniqueConstraint(fields=["lifecycle", "key"], name="transaction_lifecycle_key_unique"),
        ]
        # Few indexes on purpose: ingest writes this table on every tracked event. The report pages
        # newest first by id (per lifecycle too); the sweep finds overdue records by (status,
        # deadline); out-of-order records, usually rare, have a small partial index of their own.
        indexes = [
            models.Index(fields=["lifecycle", "id"], name="transaction_lifecycle_id"),
            models.Index(fields=["status", "deadline"], name="transaction_status_deadline"),
            models.Index(fields=["id"], condition=models.Q(out_of_order=True), name="transaction_out_of_order"),
        ]

    def __str__(self) -> str:
        return f"{self.lifecycle_id}:{self.key}"


class TrackingCursor(models.Model):
    """How far the event log has been folded into transaction records (SQLite only, one row):
    every event whose rowid is at most ``position`` is in its records. ``last_id`` is the stored id
    of the last of them, which outlives a renumbering of rowids (VACUUM)."""

    position = models.BigIntegerField(default=0)
    last_id = models.CharField(max_length=26, default="", blank=True)

    def __str__(self) -> str:
        return f"folded up to event rowid {self.position}"


# --- Replay (CONTRACT §8): defined in their own module, registered here as the app's models ---------
from dashboard.replay.models import Consumer, Delivery, DeliveryAttempt, Replay  # noqa: E402, F401
