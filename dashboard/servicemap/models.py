"""The service map's rollups: per service and per edge, per one-minute and one-hour bucket, kept as
spans and events arrive (``dashboard.servicemap.fold``), and the batches still to be folded."""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField


class Pending(models.Model):
    """One stored batch not yet folded into the rollups: written in the batch's own transaction, so
    it is visible exactly when the batch's rows are. ``received_at`` tells the batch's rows from
    rows stored before (a retried export's spans keep the time they were first stored)."""

    SPANS, EVENTS = 0, 1

    kind = models.SmallIntegerField()
    received_at = models.DateTimeField()
    traces = FastJSONField(default=list)  # the trace ids the batch touched

    def __str__(self) -> str:
        return f"{'spans' if self.kind == self.SPANS else 'events'} of {self.received_at.isoformat()}"


class ServiceBucket(models.Model):
    """Spans of one service that started in one bucket (``width`` minutes from ``minute``, minutes
    since the epoch), and how many of them had error status."""

    width = models.SmallIntegerField()
    minute = models.BigIntegerField()
    service = models.CharField(max_length=256)
    spans = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["width", "minute", "service"], name="servicebucket_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.service} @{self.minute}/{self.width}"


class EdgeBucket(models.Model):
    """One edge in one bucket: events of type ``via`` (from ``event_source``) published by
    ``source_service`` and processed by ``target_service`` (``kind`` EVENT, bucketed by the event's
    time), or calls from a span of ``source_service`` to a child span named ``via`` of
    ``target_service`` (``kind`` CALL, by the child's start). ``lags``: the lag histogram
    (``dashboard.servicemap.histogram``); ``messaging_*``: the OpenTelemetry messaging system,
    destination and processing operation of the bucket's latest hop; ``samples``: a few trace ids
    behind it."""

    EVENT, CALL = 0, 1
    KINDS = {EVENT: "event", CALL: "call"}

    width = models.SmallIntegerField()
    minute = models.BigIntegerField()
    kind = models.SmallIntegerField()
    source_service = models.CharField(max_length=256)
    target_service = models.CharField(max_length=256)
    via = models.CharField(max_length=512)
    event_source = models.CharField(max_length=256, default="")
    count = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    lags = FastJSONField(default=dict)
    messaging_system = models.CharField(max_length=256, default="")
    messaging_destination = models.CharField(max_length=512, default="")
    messaging_operation = models.CharField(max_length=64, default="")
    samples = FastJSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["width", "minute", "kind", "source_service", "target_service", "via", "event_source"],
                name="edgebucket_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_service} -[{self.via}]-> {self.target_service} @{self.minute}/{self.width}"
