"""A consumer's kind and its broker options: what ``POST``/``PATCH /api/consumers`` take beside the URL.

The URL's scheme decides the kind (the same reading as the delivery side's, ``publishers.broker_kind``):
``http`` (``http://``, ``https://``), ``amqp`` (``amqp://``, ``amqps://``: ``exchange``, and
``routing_key`` — without one, each event's detail-type), ``nats`` (``nats://``, ``tls://``:
``subject``) or ``redis`` (``redis://``, ``rediss://``: ``stream``). The options are stored in
``Consumer.target`` and shown as top-level fields of the consumer.

Option values are strings of at most 255 bytes in UTF-8 (an AMQP short string's limit) with no
control characters; a NATS subject to publish to has no spaces and no wildcards (``*``, ``>``), nor
empty tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dashboard.replay.publishers import broker_kind

HTTP = "http"
KINDS = (HTTP, "amqp", "nats", "redis")
#: Every broker option, in the order they are shown.
OPTIONS = ("exchange", "routing_key", "subject", "stream")
#: The options each kind takes; the ones it needs are in ``REQUIRED``.
KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    HTTP: (),
    "amqp": ("exchange", "routing_key"),
    "nats": ("subject",),
    "redis": ("stream",),
}
REQUIRED = frozenset({"exchange", "subject", "stream"})
#: Options that may be the empty string: the AMQP default exchange; no routing key means the default.
MAY_BE_EMPTY = frozenset({"exchange", "routing_key"})
OPTION_MAX_BYTES = 255
_SCHEMES = {HTTP: "http:// or https://", "amqp": "amqp:// or amqps://", "nats": "nats:// or tls://",
            "redis": "redis:// or rediss://"}  # fmt: skip
# One or more dot-separated tokens, none empty, with no whitespace and no wildcard.
_NATS_SUBJECT = re.compile(r"[^\s.*>]+(?:\.[^\s.*>]+)*\Z")


class OptionError(ValueError):
    """An option that cannot be used; ``where`` names the field."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def consumer_kind(url: str) -> str:
    """``http``, ``amqp``, ``nats`` or ``redis``: the kind of consumer ``url`` makes (anything not a
    broker URL is taken as HTTP, and the HTTP URL rules then say what is wrong with it)."""
    return broker_kind(url) or HTTP


def _has_control(value: str) -> bool:
    # C0, DEL and C1 controls, and the Unicode line and paragraph separators.
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 or ch in "\u2028\u2029" for ch in value)


def check_option(name: str, value: Any) -> str:
    """``value`` as the option ``name`` may hold, or :class:`OptionError`."""
    if not isinstance(value, str):
        raise OptionError(f"{name!r} must be a string.", name)
    if not value and name not in MAY_BE_EMPTY:
        raise OptionError(f"{name!r} must not be empty.", name)
    if len(value.encode("utf-8", "surrogatepass")) > OPTION_MAX_BYTES:
        raise OptionError(f"{name!r} is longer than {OPTION_MAX_BYTES} bytes.", name)
    if _has_control(value):
        raise OptionError(f"{name!r} must not contain control characters or line breaks.", name)
    if name == "subject" and not _NATS_SUBJECT.match(value):
        raise OptionError(
            "'subject' must be a subject to publish to: dot-separated tokens, none empty, with no spaces and no "
            "wildcards (* or >).",
            name,
        )
    return value


def check_target(kind: str, document: Mapping[str, Any]) -> dict[str, str]:
    """The ``target`` of a consumer of ``kind`` from the options in ``document`` (which may hold other
    fields too; an option given as null counts as not given). :class:`OptionError` for a required
    option missing, an option another kind takes, or a value that cannot be used. An empty
    ``routing_key`` is not kept: no routing key means the event's detail-type."""
    taken = KIND_OPTIONS[kind]
    given = {name: document[name] for name in OPTIONS if document.get(name) is not None}
    foreign = sorted(set(given) - set(taken))
    if foreign:
        which = ", ".join(repr(name) for name in foreign)
        takes = f"takes {', '.join(repr(t) for t in taken)}" if taken else "takes no broker options"
        raise OptionError(f"A {_SCHEMES[kind]} consumer {takes}, not {which}.", foreign[0])
    target: dict[str, str] = {}
    for name in taken:
        if name not in given:
            if name in REQUIRED:
                raise OptionError(f"A {_SCHEMES[kind]} consumer needs {name!r} (a string).", name)
            continue
        value = check_option(name, given[name])
        if value or name != "routing_key":
            target[name] = value
    return target


def target_fields(kind: str, target: Mapping[str, str]) -> dict[str, str | None]:
    """The options of a consumer of ``kind`` as the API and the page show them: every option its kind
    takes, null for one not set (an AMQP consumer without ``routing_key``)."""
    return {name: target.get(name) for name in KIND_OPTIONS[kind]}
