"""Operations on taps, shared by the API and the page: ``check_*`` validates, ``do_*`` changes.

Creating a tap also creates what it reads on the broker (its queue, consumer group or durable
consumer), at once: messages published from the ``201`` on are kept for the tap even before a
process runs it. A broker that cannot be reached then does not refuse the tap: it is saved,
``failing`` with the reason, and the process that runs it keeps trying.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.core.errors import Problem
from dashboard.events.envelope import format_time
from dashboard.taps.addresses import SCHEMES, BadAddress, masked, split
from dashboard.taps.models import Tap, TapRejection
from dashboard.taps.source import BrokerError, describe, open_source

logger = logging.getLogger(__name__)

# Also a queue, durable consumer and Redis consumer name: no dots, spaces or wildcards.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_OPTION_MAX = 255
RECENT_REJECTIONS = 20


class Invalid(Problem, ValueError):
    """Bad input; ``status`` is the HTTP status to answer (400, 404 or 409)."""

    def __init__(
        self, message: str, *, status: int = 400, code: str = "invalid_request", where: str | None = None
    ) -> None:
        super().__init__(message, code=code, where=where)
        self.status = status


def check_tap(document: Any) -> dict[str, Any]:
    """The fields of a new tap from an API body; :class:`Invalid` says what is wrong."""
    if not isinstance(document, dict):
        raise Invalid("The body must be a JSON object.")
    name = document.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise Invalid(
            "'name' is required: 1 to 64 letters, digits, '_' or '-', starting with a letter or digit.", where="name"
        )
    try:
        address = split(document.get("url"))  # type: ignore[arg-type]
    except BadAddress as err:
        raise Invalid(str(err), where=err.where) from None
    fmt = document.get("format", "auto")
    if fmt not in Tap.FORMATS:
        raise Invalid(f"'format' must be one of {', '.join(Tap.FORMATS)}.", where="format")
    options: dict[str, str] = {}
    for option in SCHEMES[address.scheme][1]:
        value = document.get(option)
        if not isinstance(value, str) or (not value and option != "binding_key"):
            raise Invalid(f"A {address.scheme}:// tap needs {option!r} (a string).", where=option)
        if len(value) > _OPTION_MAX:
            raise Invalid(f"{option!r} is longer than {_OPTION_MAX} characters.", where=option)
        options[option] = value
    unknown = set(document) - {"name", "url", "format", *options}
    if unknown:
        raise Invalid(f"Unknown field(s) for a {address.scheme}:// tap: {', '.join(sorted(unknown))}.")
    return {"name": name, "url": document["url"].strip(), "format": fmt, "options": options}


def do_create_tap(fields: dict[str, Any]) -> Tap:
    """Save a checked tap and create its side on the broker (``failing`` when that cannot be done)."""
    try:
        with transaction.atomic():
            tap = Tap.objects.create(**fields)
    except IntegrityError:
        raise Invalid(f"A tap named {fields['name']!r} exists already.", status=409, code="conflict") from None
    try:
        _on_broker(tap, remove=False)
    except Exception as err:
        Tap.objects.filter(pk=tap.pk).update(state=Tap.FAILING, last_error=describe(err), last_error_at=timezone.now())
        tap.refresh_from_db()
    return tap


def _on_broker(tap: Tap, *, remove: bool) -> None:
    source = open_source(tap.name, tap.url, tap.options)
    try:
        source.connect()
        if remove:
            source.remove()
    finally:
        source.close()


def get_tap(name: str) -> Tap:
    tap = Tap.objects.filter(name=name).first()
    if tap is None:
        raise Invalid(f"No tap named {name!r}.", status=404, code="not_found")
    return tap


def do_stop_tap(tap: Tap) -> Tap:
    """Stop reading (the process running the tap lets go within a second); the broker keeps what
    arrives meanwhile in the tap's queue, group or durable consumer."""
    Tap.objects.filter(pk=tap.pk).update(enabled=False, state=Tap.STOPPED, owner="", lease_until=None)
    tap.refresh_from_db()
    return tap


def do_start_tap(tap: Tap) -> Tap:
    if not tap.enabled:
        Tap.objects.filter(pk=tap.pk).update(enabled=True, state=Tap.RUNNING)
        tap.refresh_from_db()
    return tap


def do_delete_tap(tap: Tap) -> None:
    """Delete the tap and, where the broker can be reached, what it read there (its AMQP queue, its
    JetStream durable consumer, its consumer in the Redis group)."""
    tap.delete()
    try:
        _on_broker(tap, remove=True)
    except (BrokerError, Exception) as err:
        logger.warning("tap %s deleted; its side on the broker was not removed: %s", tap.name, describe(err))


def tap_json(tap: Tap) -> dict[str, Any]:
    return {
        "name": tap.name,
        "url": masked(tap.url),
        "format": tap.format,
        **tap.options,
        "state": tap.state if tap.enabled else Tap.STOPPED,
        "received": tap.received,
        "stored": tap.stored,
        "duplicates": tap.duplicates,
        "rejected": tap.rejected,
        "last_error": tap.last_error,
        "last_error_at": format_time(tap.last_error_at) if tap.last_error_at else None,
        "backlog": tap.backlog,
        "created_at": format_time(tap.created_at),
    }


def rejection_json(rejection: TapRejection) -> dict[str, Any]:
    return {
        "received_at": format_time(rejection.received_at),
        "reason": rejection.reason,
        "message_id": rejection.message_id,
        "subject": rejection.subject,
        "headers": rejection.headers,
        "body": rejection.body,
    }


def tap_detail_json(tap: Tap) -> dict[str, Any]:
    """One tap with its latest rejected messages (``recent_rejections``, newest first)."""
    recent = TapRejection.objects.filter(tap=tap).order_by("-id")[:RECENT_REJECTIONS]
    return {**tap_json(tap), "recent_rejections": [rejection_json(r) for r in recent]}
