"""Taps and the messages they refused.

A tap's row is also its lease: ``owner``/``lease_until`` say which process reads the broker for it
(one at a time, renewed while it runs; another process takes the tap once the lease has expired).
The counters are kept by the process that runs the tap, in the same transaction as the events they
count.
"""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField


class Tap(models.Model):
    RUNNING, STOPPED, FAILING = "running", "stopped", "failing"
    STATES = (RUNNING, STOPPED, FAILING)
    FORMATS = ("auto", "cloudevents", "eventbridge", "raw")

    name = models.CharField(max_length=64, unique=True)
    # The broker URL as given, credentials included (shown back only masked: ``addresses.masked``).
    url = models.CharField(max_length=2048)
    format = models.CharField(max_length=16, default="auto")
    # By scheme: ``exchange`` + ``binding_key`` (AMQP), ``subject`` (NATS), ``stream`` (Redis).
    options = FastJSONField(default=dict)
    # What the user wants (start/stop); ``state`` is what the process running it last saw.
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=16, default=RUNNING)
    received = models.BigIntegerField(default=0)
    stored = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    backlog = models.BigIntegerField(null=True, blank=True)
    owner = models.CharField(max_length=200, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TapRejection(models.Model):
    """A message a tap could not make an event of: acknowledged (so it never blocks the tap) and
    kept here with the reason."""

    tap = models.ForeignKey(Tap, on_delete=models.CASCADE, related_name="rejections")
    received_at = models.DateTimeField()
    reason = models.TextField()
    message_id = models.CharField(max_length=256, blank=True, default="")
    subject = models.CharField(max_length=512, blank=True, default="")
    headers = FastJSONField(default=dict)
    # The body's first bytes, as text (undecodable bytes replaced).
    body = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["tap", "-id"], name="taps_rejection_recent")]

    def __str__(self) -> str:
        return f"{self.tap_id}: {self.reason[:80]}"
