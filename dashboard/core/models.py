"""Credentials and request bookkeeping: API tokens with scopes, idempotent creates."""

from __future__ import annotations

from django.db import models

from dashboard.core.jsonfield import FastJSONField

SCOPES = ("ingest", "read", "operate")


class ApiToken(models.Model):
    """A named credential with scopes.

    Neither the bearer token nor the SigV4 secret is stored: both are derived from ``SECRET_KEY``,
    ``key_id`` and a per-token salt (see ``dashboard.core.tokens``), so a copy of the database leaks no
    usable credential. Deleting the row or setting ``revoked_at`` revokes it.
    """

    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=32, unique=True)
    salt = models.CharField(max_length=64)
    scopes = FastJSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # When a request last used it, to the minute (written at most once a minute per process, so a
    # busy ingest token costs no write per request); None when never used since it was recorded.
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"


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
