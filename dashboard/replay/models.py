"""Replay data: consumers, replays, and one delivery row per (replay, event, consumer).

Their tables keep the names of the app they were born in (``dashboard_*``).
"""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField


class Consumer(models.Model):
    """Where replays deliver: an HTTP endpoint, or a broker that deliveries are published to.
    ``pattern`` (None: every event) narrows which events of a replay it receives;
    ``rate_per_second`` (None: no limit) caps its deliveries per replay; ``secret`` signs each body
    (HMAC-SHA256) when set.

    The URL's scheme says which kind it is (``dashboard.replay.broker_options``): ``http(s)://``, or
    ``amqp(s)://``, ``nats://``/``tls://``, ``redis(s)://``. A broker URL may carry the broker's login
    (``user:password@``), stored as given and shown back only masked. ``target`` holds the broker
    options of its kind, strings only: ``{"exchange", "routing_key"?}`` (AMQP; no ``routing_key``:
    the event's detail-type; ``exchange`` "" is the default exchange), ``{"subject"}`` (NATS) or
    ``{"stream"}`` (Redis); ``{}`` for HTTP."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=2048)
    # db_default: rows written by code that predates the column are HTTP consumers.
    target = FastJSONField(default=dict, db_default={}, blank=True)
    pattern = FastJSONField(null=True, blank=True, default=None)
    secret = models.CharField(max_length=256, blank=True, default="")
    rate_per_second = models.FloatField(null=True, blank=True)
    # A paused consumer receives nothing: replays to it wait (running, not failed) until resumed.
    # db_default: rows written by SQL that predates the column (older code, a restore) are not paused.
    paused = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "dashboard_consumer"  # the app it was born in
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Replay(models.Model):
    """One replay of the archive's events with ``since <= time < until`` (and ``pattern``) to
    ``consumers``, or of what a person found (``selection``: stored ids, a key, a trace or a
    transaction; ``dashboard.replay.selection``).

    A selection is resolved to its events when the replay is created, and their deliveries are
    planned in the same transaction (``walk_done`` from the start): a run, resumed or not, delivers
    exactly those. ``since``/``until`` then span the selected events' times.

    The walk over the archive is resumable: ``cursor_time``/``cursor_event`` is the last event
    planned, ``planned`` the deliveries created so far and ``walk_done`` whether the walk is over.
    ``lease_owner``/``lease_expires_at`` say which run holds the replay; a run renews its lease while
    it works, and a replay left ``running`` with an expired lease is resumed by the recovery sweep.
    ``total`` is the deliveries expected (an upper bound from the archive's indexed filters while the
    walk goes on, exact once it is done). The counters are kept up to date by the run and recomputed
    from the delivery rows on resume and at the end.
    """

    PENDING, RUNNING, COMPLETED, CANCELLED, FAILED = "pending", "running", "completed", "cancelled", "failed"
    STATES = (PENDING, RUNNING, COMPLETED, CANCELLED, FAILED)
    ACTIVE = (PENDING, RUNNING)

    name = models.CharField(max_length=256)
    since = models.DateTimeField()
    until = models.DateTimeField()
    pattern = FastJSONField(null=True, blank=True, default=None)
    # What a person found, e.g. {"kind": "trace_id", "trace_id": "…", "events": 12}; None: a time range.
    selection = FastJSONField(null=True, blank=True, default=None)
    consumers = models.ManyToManyField(Consumer, related_name="replays", db_table="dashboard_replay_consumers")
    rate_per_second = models.FloatField(null=True, blank=True)
    state = models.CharField(max_length=16, default=PENDING)
    error = models.TextField(blank=True, default="")
    matched = models.PositiveIntegerField(default=0)
    planned = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    last_replayed_time = models.DateTimeField(null=True, blank=True)
    cursor_time = models.DateTimeField(null=True, blank=True)
    cursor_event = models.CharField(max_length=26, blank=True, default="")
    walk_done = models.BooleanField(default=False)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dashboard_replay"  # the app it was born in
        indexes = [models.Index(fields=["state", "lease_expires_at"], name="replay_state_lease")]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class Delivery(models.Model):
    """One event to one consumer within one replay; unique, so it is planned and delivered once.

    ``seq`` orders a replay's deliveries as the events' original time order (then stored id).
    ``state``: ``pending`` (to send), ``sending`` (claimed by ``claim``, the run that sends it),
    ``retry`` (waiting for ``next_attempt_at``), ``delivered``, ``dead`` (a dead letter: gave up, or
    the outcome is unknown because the run stopped while it was in flight). ``drive_attempts``
    counts attempts since the last re-drive; ``attempts`` counts them all.
    """

    PENDING, SENDING, RETRY, DELIVERED, DEAD = "pending", "sending", "retry", "delivered", "dead"

    replay = models.ForeignKey(Replay, on_delete=models.CASCADE, related_name="deliveries")
    # No constraint in the database: on PostgreSQL the event table is partitioned by day, and a
    # foreign key would have to name its whole primary key (id, received_at). Django follows the
    # relation all the same; retention deletes deliveries with their events (dashboard.retention).
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="deliveries")
    seq = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=256, blank=True, default="")
    state = models.CharField(max_length=16, default=PENDING)
    claim = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    drive_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_latency_ms = models.FloatField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "dashboard_delivery"  # the app it was born in
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["replay", "event", "consumer"], name="delivery_replay_event_consumer"),
        ]
        indexes = [
            models.Index(fields=["replay", "consumer", "state", "seq"], name="delivery_lane"),
            models.Index(fields=["replay", "state", "id"], name="delivery_replay_state"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class DeliveryAttempt(models.Model):
    """One attempt to send an event to a consumer: its HTTP status (None when no response came),
    latency, error, the start of the consumer's answer, and what followed (``delivered``, ``retry``,
    ``dead``; ``test`` for a "send test event", which has no delivery or replay).

    ``consumer`` and ``replay`` repeat the delivery's so that a consumer's or a replay's attempts
    list newest first from one index each, without a join; they are null only on rows written
    before they existed (the migration fills them in) and ``replay`` on test sends.
    """

    TEST = "test"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log", null=True)
    # No single-column indexes: the (consumer, id) and (replay, id) ones below lead with them.
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="+", null=True, db_index=False)
    replay = models.ForeignKey(Replay, on_delete=models.CASCADE, related_name="+", null=True, db_index=False)
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField()
    error = models.TextField(blank=True, default="")
    response = models.TextField(blank=True, default="", db_default="")
    outcome = models.CharField(max_length=16)

    class Meta:
        db_table = "dashboard_deliveryattempt"  # the app it was born in
        indexes = [
            models.Index(fields=["delivery", "number"], name="attempt_delivery_number"),
            models.Index(fields=["consumer", "id"], name="attempt_consumer_id"),
            models.Index(fields=["replay", "id"], name="attempt_replay_id"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id} ({self.outcome})"
