"""Operations on taps, shared by the API and the page: ``check_*`` validates, ``do_*`` changes.

Creating a tap also creates what it reads on the broker (its queue, consumer group or durable
consumer), at once: messages published from the ``201`` on are kept for the tap even before a
process runs it. A broker that cannot be reached then does not refuse the tap: it is saved,
``failing`` with the reason, and the process that runs it keeps trying.

Changing a tap (``do_update_tap``) stops it, moves what it reads on the broker to the new settings,
saves them and lets it run again: the process that ran it lets go within a second, and one takes it
up again with the new settings.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.core.errors import Problem
from dashboard.core.url_credentials import MaskedPasswordError, unmask
from dashboard.events.envelope import format_time
from dashboard.taps.addresses import SCHEMES, Address, BadAddress, masked, split
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


#: What ``PATCH /api/taps/<name>`` takes: the format, the URL and the options of the URL's kind.
CHANGEABLE = ("url", "format", *sorted({option for _, options in SCHEMES.values() for option in options}))


def check_tap_change(tap: Tap, document: Any) -> dict[str, Any]:
    """The tap's fields after the change in ``document`` (``url``, ``format`` and options; the others
    stay), checked as a new tap's are; :class:`Invalid` says what is wrong.

    Options not given stay while the URL names the same kind of broker; a URL of another kind takes
    only the options given with it. A URL whose password is the mask ``***`` (the URL as shown)
    keeps the stored password, for the same scheme, user, host and port only
    (``dashboard.core.url_credentials``)."""
    if not isinstance(document, dict):
        raise Invalid("The body must be a JSON object.")
    unknown = sorted(set(document) - set(CHANGEABLE))
    if unknown:
        raise Invalid(f"Unknown field(s): {', '.join(unknown)} (a tap takes {', '.join(CHANGEABLE)}; its name stays).")
    url = document.get("url", tap.url)
    if isinstance(url, str):
        try:
            url = unmask(url.strip(), tap.url)
        except MaskedPasswordError as err:
            raise Invalid(f"'url': {err}.", where="url") from None
    merged: dict[str, Any] = {"format": tap.format}
    try:
        if split(url).kind == split(tap.url).kind:
            merged.update(tap.options)
    except BadAddress:
        pass  # check_tap says what is wrong with the URL
    given = {key: value for key, value in document.items() if key != "url"}
    return check_tap({**merged, **given, "name": tap.name, "url": url})


def do_update_tap(tap: Tap, fields: dict[str, Any]) -> Tap:
    """Change a tap to checked ``fields`` (``check_tap_change``): stop it (the process that runs it
    lets go within a second, and its writes to the row stop at once), move what it reads on the
    broker (``_move_on_broker``), save, and let it run again when it was running. A broker that
    cannot be reached saves it ``failing`` with the reason, as a new tap. No change: nothing done."""
    if (fields["url"], fields["format"], fields["options"]) == (tap.url, tap.format, tap.options):
        return tap
    old = Tap(pk=tap.pk, name=tap.name, url=tap.url, format=tap.format, options=dict(tap.options))
    new = Tap(pk=tap.pk, name=tap.name, url=fields["url"], format=fields["format"], options=fields["options"])
    enabled = tap.enabled
    Tap.objects.filter(pk=tap.pk).update(enabled=False, owner="", lease_until=None)
    changes: dict[str, Any] = {"url": new.url, "format": new.format, "options": new.options, "enabled": enabled,
                               "state": Tap.RUNNING if enabled else Tap.STOPPED, "backlog": None}  # fmt: skip
    try:
        _move_on_broker(old, new)
    except Exception as err:
        changes.update(state=Tap.FAILING, last_error=describe(err), last_error_at=timezone.now())
    Tap.objects.filter(pk=tap.pk).update(**changes)
    tap.refresh_from_db()
    return tap


def _place(address: Address) -> tuple[str, str, str, int | None, str, str]:
    """Where what a tap reads lives: the broker, the vhost or database, and the login."""
    return address.kind, address.scheme, address.host.lower(), address.port, address.path, address.username


def _move_on_broker(old: Tap, new: Tap) -> None:
    """Create what ``new`` reads on the broker, and take away what only ``old`` read there (best
    effort: a broker that cannot be reached keeps it, as when a tap is deleted).

    Another broker, vhost or database: the old queue, durable consumer or group consumer is removed
    and a new one made. The same one: an AMQP queue stays (with what waits in it) and its old binding
    is removed once the new one is made; a NATS durable consumer, whose name stays but whose subject
    cannot change, is removed first and made again; a Redis tap moved to another stream leaves the
    old stream's group."""
    before, after = split(old.url), split(new.url)
    if _place(before) != _place(after):
        _forget_on_broker(old)
        _on_broker(new, remove=False)
        return
    if after.kind == "nats" and old.options["subject"] != new.options["subject"]:
        _forget_on_broker(old)
    _on_broker(new, remove=False)
    if after.kind == "amqp" and old.options != new.options:
        _unbind(old)
    if after.kind == "redis" and old.options["stream"] != new.options["stream"]:
        _forget_on_broker(old)


def _forget_on_broker(tap: Tap) -> None:
    try:
        _on_broker(tap, remove=True)
    except Exception as err:
        logger.warning("tap %s changed; its old side on the broker was not removed: %s", tap.name, describe(err))


def _unbind(tap: Tap) -> None:
    from dashboard.taps.amqp_source import AmqpSource

    source = AmqpSource(tap.name, tap.url, tap.options)
    try:
        source.connect()
        source.unbind()
    except Exception as err:
        logger.warning("tap %s changed; its old binding was not removed: %s", tap.name, describe(err))
    finally:
        source.close()


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
