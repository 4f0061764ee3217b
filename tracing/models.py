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
