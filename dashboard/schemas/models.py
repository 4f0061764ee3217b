"""Discovered schemas: one per ``(source, detail-type)``, its versions, and how many events each counted."""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField


class Schema(models.Model):
    """One event type as seen in the traffic.

    ``latest_version`` is the number of its newest version (the one new events are fitted to);
    ``pinned_version`` the version new events are checked against, or NULL. Versions are numbered from
    1 and never removed, so ``latest_version`` is also how many there are.
    """

    source = models.CharField(max_length=256)
    detail_type = models.CharField(max_length=256)
    latest_version = models.IntegerField(default=0)
    pinned_version = models.IntegerField(null=True, blank=True, default=None)
    first_seen = models.DateTimeField()
    breaking_changes = models.IntegerField(default=0)
    # When the newest breaking version began: the list and the overview show these first.
    last_breaking_at = models.DateTimeField(null=True, blank=True, default=None)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "detail_type"], name="schema_type_unique")]
        indexes = [models.Index(fields=["last_breaking_at"], name="schema_last_breaking")]

    def __str__(self) -> str:
        return f"{self.detail_type} from {self.source}"


class SchemaVersion(models.Model):
    """One version: the ``(path, JSON type)`` pairs seen (``types``: path -> sorted type names), the
    paths present in every event of it (``required``), and what changed from the version before."""

    INITIAL, COMPATIBLE, BREAKING = "initial", "compatible", "breaking"

    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="versions")
    number = models.IntegerField()
    types = FastJSONField(default=dict)
    required = FastJSONField(default=list)
    truncated = models.BooleanField(default=False)
    kind = models.CharField(max_length=16)
    change = FastJSONField(default=dict)  # {"added": [...], "removed": [...], "type_changed": [...]}
    first_seen = models.DateTimeField()
    first_event_id = models.CharField(max_length=26)  # the stored id of the event that began it

    class Meta:
        constraints = [models.UniqueConstraint(fields=["schema", "number"], name="schemaversion_unique")]

    def __str__(self) -> str:
        return f"{self.schema_id} v{self.number}"


class SchemaCount(models.Model):
    """Events counted towards a version, and the latest time one was: readers add up the shards.

    Every ingest request of a busy type adds to its latest version; a row updated stays locked until
    the transaction commits, so on PostgreSQL each request adds to one of ``SHARDS`` rows (at random)
    and concurrent requests rarely wait for each other. SQLite has one writer at a time: shard 0.
    Plain integers, no foreign key: ingest writes these with one statement per type and a batch.
    """

    SHARDS = 8

    schema_id = models.BigIntegerField()  # Schema.id
    version = models.IntegerField()
    shard = models.SmallIntegerField(default=0)
    events = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schema_id", "version", "shard"], name="schemacount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.schema_id} v{self.version}#{self.shard}: {self.events}"
