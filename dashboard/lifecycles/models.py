"""Lifecycles and the transaction records they keep per business key."""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField, WrittenJSONField

# --- Transactions (docs/transactions.md): lifecycles per business key ---------------------------------------

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
        db_table = "dashboard_lifecycle"  # the app it was born in
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
        db_table = "dashboard_transaction"  # the app it was born in
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

    class Meta:
        db_table = "dashboard_trackingcursor"  # the app it was born in

    def __str__(self) -> str:
        return f"folded up to event rowid {self.position}"
