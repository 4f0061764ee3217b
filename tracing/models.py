"""The span side's data: spans, their links (queried in both directions) and log records.

Times are kept as integer nanoseconds since the epoch, exactly as OTLP sends them: no precision is
lost, and range scans on an integer column are cheap in both SQLite and PostgreSQL.
"""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField

# The span vocabulary (kind and status names) lives in core, where the live tail can read it too;
# the modules that take it with the models find it here as well.
from dashboard.core.spans import SPAN_KINDS, STATUS_CODES, kind_name, status_name  # noqa: F401


class Span(models.Model):
    # Status codes as status_code stores them (OTLP's Status.StatusCode).
    STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2

    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, default="")
    trace_state = models.CharField(max_length=512, default="")
    name = models.CharField(max_length=512)
    kind = models.SmallIntegerField(default=0)
    service = models.CharField(max_length=256)
    start_ns = models.BigIntegerField()
    end_ns = models.BigIntegerField()
    status_code = models.SmallIntegerField(default=0)
    status_message = models.TextField(default="")
    attributes = FastJSONField(default=dict)
    resource = FastJSONField(default=dict)
    scope = models.CharField(max_length=256, default="")
    events = FastJSONField(default=list)
    links = FastJSONField(default=list)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            # An exporter that retries after a lost response sends the same spans again: keep one.
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="span_trace_span_unique"),
        ]
        indexes = [
            models.Index(fields=["start_ns"], name="span_start"),
            models.Index(fields=["service", "start_ns"], name="span_service_start"),
        ]

    def __str__(self) -> str:
        return f"{self.service}: {self.name} ({self.trace_id}/{self.span_id})"


class SpanKey(models.Model):
    """PostgreSQL only: the dedupe key ``(trace_id, span_id)`` of a stored span.

    The span table there is partitioned by day (``tracing.0004``), so its unique keys can only be
    unique within a day; this table, not partitioned, keeps a span stored once across days
    (``tracing.keys``). SQLite has no such table: its span table keeps the constraint."""

    pk = models.CompositePrimaryKey("trace_id", "span_id")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)

    class Meta:
        db_table = "tracing_span_key"

    def __str__(self) -> str:
        return f"{self.trace_id}/{self.span_id}"


class SpanLink(models.Model):
    """A span link, stored once and read from either end."""

    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    linked_trace_id = models.CharField(max_length=32)
    linked_span_id = models.CharField(max_length=16)
    attributes = FastJSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trace_id", "span_id", "linked_trace_id", "linked_span_id"], name="spanlink_unique"
            ),
        ]
        indexes = [models.Index(fields=["linked_trace_id"], name="spanlink_linked_trace")]

    def __str__(self) -> str:
        return f"{self.trace_id}/{self.span_id} -> {self.linked_trace_id}/{self.linked_span_id}"


class LogRecord(models.Model):
    trace_id = models.CharField(max_length=32, default="")
    span_id = models.CharField(max_length=16, default="")
    time_ns = models.BigIntegerField()
    observed_ns = models.BigIntegerField(default=0)
    severity_number = models.SmallIntegerField(default=0)
    severity_text = models.CharField(max_length=32, default="")
    body = FastJSONField(null=True)
    attributes = FastJSONField(default=dict)
    service = models.CharField(max_length=256, default="")
    scope = models.CharField(max_length=256, default="")
    received_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["trace_id", "time_ns"], name="log_trace_time"),
            models.Index(fields=["received_at"], name="log_received"),
        ]

    def __str__(self) -> str:
        return f"{self.severity_text or self.severity_number} {self.service} ({self.trace_id})"


# --- Trace search (docs/api.md, GET /api/traces): maintained as spans are stored ---------------------

# TraceSummary.root_rank of a span: a parentless span ranks by its start, any other span after every
# parentless one (by its start too), so the lowest rank names the root, or the earliest span while the
# root has not arrived. Start times (about 1.8e18 ns today) stay below CHILD_RANK and the sum fits int64.
CHILD_RANK = 1 << 62


class TraceSummary(models.Model):
    """One row per trace: its span envelope, root, and span counts by status, kept up to date by
    ``tracing.summaries`` (in the transaction that stores the spans, or after it on SQLite). Newest
    first is ``start_ns`` descending; the partial index serves searches for failing traces."""

    # The id is what terms refer to: it grows as traces arrive, so a term shared by many traces
    # (a service, an HTTP status) is appended at the end of its index range instead of being
    # written at a random place in it, as a trace id would be (fewer pages written a commit).
    trace_id = models.CharField(max_length=32, unique=True)
    start_ns = models.BigIntegerField()
    end_ns = models.BigIntegerField()
    root_rank = models.BigIntegerField()
    root_service = models.CharField(max_length=256)
    root_name = models.CharField(max_length=512)
    span_count = models.IntegerField()
    error_count = models.IntegerField()
    ok_count = models.IntegerField()
    unset_count = models.IntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["start_ns", "trace_id"], name="tracesummary_start"),
            models.Index(
                fields=["start_ns", "trace_id"], condition=models.Q(error_count__gt=0), name="tracesummary_error_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}: {self.root_service} {self.root_name}"


class TraceTerm(models.Model):
    """What a trace holds, for search: ``(kind, key, value) -> trace_id``, once per trace.

    ``SERVICE``: key "", value a service with a span in the trace. ``SPAN_NAME``: key the service,
    value a span name of that service. ``ATTRIBUTE``: a span or resource attribute whose value is a
    string, whole number or boolean (as text: ``500``, ``true``), key up to ``MAX_TERM_KEY`` and value
    up to ``MAX_TERM_VALUE`` characters, at most ``MAX_SPAN_TERMS`` of them a span; other attributes
    are not searchable. ``trace`` is the trace's ``TraceSummary.id``. The unique index is the lookup
    index."""

    SERVICE, SPAN_NAME, ATTRIBUTE = 0, 1, 2
    MAX_TERM_KEY, MAX_TERM_VALUE, MAX_SPAN_TERMS = 128, 256, 64

    kind = models.SmallIntegerField()
    key = models.CharField(max_length=256)
    value = models.CharField(max_length=512)
    # TraceSummary.id, without a foreign key: ingest writes both in one statement batch, and a
    # constraint check per term would cost every span.
    trace = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "value", "trace"], name="traceterm_unique"),
        ]
        # Retention deletes a purged trace's terms by trace. Trace ids grow as traces arrive, so new
        # terms land at the end of this index: it costs ingest an append, not a random page write.
        indexes = [models.Index(fields=["trace"], name="traceterm_trace")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}={self.value} (trace #{self.trace})"


class ServiceOperation(models.Model):
    """Per service and span name: how many spans were stored and the latest span start, for the
    search form's pickers (``GET /api/services``); readers add up the rows of a (service, name).

    ``shard``: every request's spans of a busy service update its row, and a row updated stays
    locked until the transaction commits; on PostgreSQL, where ingest transactions run side by
    side, each one updates one of ``SHARDS`` rows (at random), so they rarely wait for each other.
    SQLite has one writer at a time: shard 0 only."""

    SHARDS = 8

    service = models.CharField(max_length=256)
    name = models.CharField(max_length=512)
    shard = models.SmallIntegerField(default=0)
    spans = models.BigIntegerField()
    last_start_ns = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "name", "shard"], name="serviceoperation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.service}: {self.name}"


class TraceSummaryCursor(models.Model):
    """How far the stored spans have been summarised into the search tables (SQLite only, one row,
    id 1): every span whose id is at most ``position`` is in them (see ``tracing.summaries``)."""

    position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"summarised up to span {self.position}"
