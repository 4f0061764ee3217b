"""``Idempotency-Key`` on create endpoints: a retried create gets the first answer, not a second object.

A client that cannot tell whether its create arrived (a timeout, a dropped connection) sends it
again with the same key. The contract, as Stripe's and the IETF ``Idempotency-Key`` draft's:

* The header is optional: 1-255 printable ASCII characters; anything else is a ``400``.
* A key belongs to one caller (a token, or a logged-in user) and one endpoint
  (``POST /api/replays``): the same key elsewhere is another key.
* A ``2xx`` answer is kept for :data:`KEY_LIFETIME` (24 h): a request with the same key and the
  same body (compared as JSON: key order and spacing aside) gets it again, same status, body and
  ``Location``, with ``Idempotent-Replayed: true``, and creates nothing.
* The same key with a different body is a ``422`` (``idempotency_key_reused``).
* A request answered ``4xx``/``5xx`` (or failing) keeps nothing: the key is free for its retry.
* Concurrent duplicates: the key's record is inserted first, in the same transaction as the view's
  work, and is unique on (caller, endpoint, key). A duplicate that arrives while the first runs
  waits for it (on the unique index in PostgreSQL, on the write lock in SQLite) and then answers
  the first's result; if the first failed, the duplicate goes ahead itself. The object and its key
  commit together or not at all, so a crash in between cannot pin a key to nothing.

Expired records are purged as new ones are written, a bounded batch each time, so the table holds
about a day of keys. Use: ``@idempotent`` right under ``@api_view(...)`` on a view whose ``POST``
creates something.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.core.http import ApiError, View
from dashboard.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)
MAX_KEY = 255
# Expired records deleted per new record: more than one, so the table shrinks back after a burst.
PURGE_BATCH = 500
_KEPT_HEADERS = ("Content-Type", "Location")


class _NotKept(Exception):
    """Carries a non-2xx answer out of the transaction, so that nothing of it is kept, key included."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def check_key(value: str) -> str:
    """The key of an ``Idempotency-Key`` header; ApiError 400 unless 1-255 printable ASCII characters."""
    key = value.strip()
    if not 1 <= len(key) <= MAX_KEY or not all(" " <= c <= "~" for c in key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"'{HEADER}' must be 1 to {MAX_KEY} printable ASCII characters (a UUID is a good key).",
        )
    return key


def fingerprint(body: bytes) -> str:
    """What makes two requests "the same": the body as JSON with its keys sorted (the raw bytes when
    it is not JSON), hashed."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def _owner(request: HttpRequest) -> str:
    principal = request.principal  # type: ignore[attr-defined]  # set by api_view
    return f"token:{principal.key_id}" if principal.key_id else f"user:{principal.name}"


def _answer_again(record: IdempotencyRecord, digest: str) -> HttpResponse:
    if record.fingerprint != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"This {HEADER} was already used for a different request to {record.endpoint}; "
            "send a new key for a new request.",
        )
    response = HttpResponse(record.body, status=record.status)
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _purge_expired(now: datetime) -> None:
    stale = list(
        IdempotencyRecord.objects.filter(created_at__lt=now - KEY_LIFETIME).values_list("pk", flat=True)[:PURGE_BATCH]
    )
    if stale:
        IdempotencyRecord.objects.filter(pk__in=stale).delete()


def idempotent(view: View) -> View:
    """Honour an ``Idempotency-Key`` header on ``POST`` (see the module docstring); other methods,
    and requests without the header, go to ``view`` as they are. Goes under ``api_view``, which
    authenticates the caller the key belongs to."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get(HEADER)
        if header is None or request.method != "POST":
            return view(request, *args, **kwargs)
        scope = {"owner": _owner(request), "endpoint": f"POST {request.path}", "key": check_key(header)}
        digest = fingerprint(request.body)
        now = timezone.now()
        try:
            with transaction.atomic():
                earlier = IdempotencyRecord.objects.filter(**scope).first()
                if earlier is not None and earlier.created_at >= now - KEY_LIFETIME:
                    return _answer_again(earlier, digest)
                if earlier is not None:
                    earlier.delete()  # expired: the key is new again
                try:
                    with transaction.atomic():
                        record = IdempotencyRecord.objects.create(**scope, fingerprint=digest, created_at=now)
                except IntegrityError:
                    # A concurrent request with this key committed first (this one waited for it).
                    earlier = IdempotencyRecord.objects.filter(**scope).first()
                    if earlier is None:  # and is gone again already: let the client come back
                        raise ApiError(
                            409, "idempotency_key_in_use", f"A request with this {HEADER} is in progress; retry.",
                            {"Retry-After": "1"},
                        ) from None  # fmt: skip
                    return _answer_again(earlier, digest)
                response = view(request, *args, **kwargs)
                if not 200 <= response.status_code < 300:
                    raise _NotKept(response)
                record.status = response.status_code
                record.body = response.content.decode()
                record.headers = {name: response[name] for name in _KEPT_HEADERS if response.has_header(name)}
                record.save(update_fields=["status", "body", "headers"])
        except _NotKept as failed:
            return failed.response
        _purge_expired(now)
        return response

    return wrapped
