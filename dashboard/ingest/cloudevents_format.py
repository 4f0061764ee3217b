"""Parsing of CloudEvents 1.0 delivered over HTTP: structured, batched and binary content modes.

Framework-free: callers pass the body bytes and a header mapping (Django's
``request.headers`` works as is). Each parser validates the event against the
CloudEvents 1.0 core specification, the JSON event format and the HTTP protocol
binding, and raises :class:`CloudEventError` naming the offending attribute.

Representation of a parsed event (:class:`ParsedCloudEvent`):

``attributes``
    Every context attribute, extensions included, under its lowercase name, in the
    order received. Values are kept in their JSON/canonical string form, so the dict
    is always JSON-serialisable: ``time`` stays the RFC 3339 string it was sent as;
    in structured mode extension values may also be ``int`` or ``bool`` (as typed in
    the JSON), in binary mode every value is a ``str`` (HTTP headers carry no type).
    Attributes sent as JSON ``null`` are treated as absent, as the JSON format requires.
    In binary mode ``datacontenttype`` is taken from ``Content-Type``.

``data`` -- the payload, the same whichever content mode carried the event:
    * ``None`` when there is no payload: no ``data``/``data_base64`` member, an empty
      binary-mode body or empty ``data_base64`` (binary mode cannot tell "empty" from
      "absent", so neither mode does), or an explicit JSON ``null``.
    * the decoded JSON value when the payload is JSON: ``datacontenttype`` absent or a
      JSON media type (``*/json``, ``*/*+json``). In structured mode that is the
      ``data`` member itself (a JSON string stays a string, it is not parsed again).
      Bytes (a binary-mode body, ``data_base64``) declared as JSON must parse as JSON;
      undeclared bytes are taken as JSON when they parse as JSON, since the SDKs send
      no ``Content-Type`` in binary mode when ``datacontenttype`` is unset.
    * a ``str`` for any other payload that is valid UTF-8 (lossless: encoding the
      string as UTF-8 gives back the exact bytes).
    * ``{"data_base64": "<standard padded base64>"}`` for bytes that are not UTF-8.
      Callers that must tell this apart from a JSON object of the same shape can
      check ``datacontenttype``: the shape only arises for non-JSON content types.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import unquote_to_bytes

import orjson

from dashboard.core import exactjson
from dashboard.core.errors import Problem
from dashboard.core.media import is_json, media_type

__all__ = [
    "BATCH_MEDIA_TYPE",
    "SPECVERSION",
    "STRUCTURED_MEDIA_TYPE",
    "CloudEventError",
    "ParsedCloudEvent",
    "detect_mode",
    "parse_batch",
    "parse_binary",
    "parse_structured",
]

SPECVERSION: Final = "1.0"
STRUCTURED_MEDIA_TYPE: Final = "application/cloudevents+json"
BATCH_MEDIA_TYPE: Final = "application/cloudevents-batch+json"

_HEADER_PREFIX: Final = "ce-"
_REQUIRED: Final = ("id", "source", "type")
# Attributes the core specification types as String (or URI/Timestamp, whose JSON
# and header form is a string as well).
_STRING_ATTRIBUTES: Final = frozenset(
    {"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time"}
)
_NAME_RE: Final = re.compile(r"[a-z0-9]+")
# CloudEvents Integer: signed 32-bit.
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
# Characters the String type forbids: C0/C1 controls, surrogate code points (only
# reachable unpaired in a Python str) and the Unicode noncharacters.
_FORBIDDEN_CHARS: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)
_RFC3339_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # \d is 0-9 only: other scripts' digits are not RFC 3339
)
# type "/" subtype with RFC 7230 token characters, optionally followed by parameters.
_MEDIA_TYPE_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(?:;.*)?", re.DOTALL)
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class CloudEventError(Problem, ValueError):
    """An HTTP request does not hold a valid CloudEvent (code ``invalid_cloudevent``).

    ``str(error)`` is a message fit for an API client. ``attribute`` names the
    offending context attribute (or ``"data"``/``"data_base64"``) when there is one,
    also its ``where``; ``index`` is the position of the event inside a batch
    (``None`` outside batches); ``reason`` is the message without the batch position.
    """

    default_code = "invalid_cloudevent"

    def __init__(self, reason: str, *, attribute: str | None = None, index: int | None = None) -> None:
        super().__init__(reason if index is None else f"batch entry {index}: {reason}", where=attribute)
        self.reason = reason
        self.attribute = attribute
        self.index = index

    def at_index(self, index: int) -> CloudEventError:
        """The same error, located at position ``index`` of a batch."""
        return CloudEventError(self.reason, attribute=self.attribute, index=index)


@dataclass(slots=True)
class ParsedCloudEvent:
    """A validated CloudEvent; see the module documentation for the value conventions."""

    attributes: dict[str, Any]
    data: Any


def detect_mode(
    content_type: str | None, headers: Mapping[str, str]
) -> Literal["structured", "batch", "binary"] | None:
    """Tell which HTTP content mode a request uses, or ``None`` if it is not a CloudEvent we read.

    :param content_type: the request's ``Content-Type``; when ``None`` it is looked up
        in ``headers``.
    :param headers: the request headers (names case-insensitive).
    :returns: ``"batch"`` for ``application/cloudevents-batch+json``, ``"structured"`` for
        ``application/cloudevents+json`` (parameters such as ``charset`` ignored),
        ``None`` for other CloudEvents formats (``application/cloudevents+avro``, ...),
        which are not supported, ``"binary"`` when any ``ce-*`` header is present,
        and ``None`` otherwise.
    """
    if content_type is None:
        content_type = _header(headers, "content-type")
    media = media_type(content_type)
    # The batch prefix has to be tested first: it also starts with the structured one.
    if media.startswith("application/cloudevents-batch"):
        return "batch" if media == BATCH_MEDIA_TYPE else None
    if media.startswith("application/cloudevents"):
        return "structured" if media == STRUCTURED_MEDIA_TYPE else None
    if any(name.lower().startswith(_HEADER_PREFIX) for name in headers):
        return "binary"
    return None


def parse_structured(body: bytes) -> ParsedCloudEvent:
    """Parse a structured-mode body (``application/cloudevents+json``): one JSON object.

    :raises CloudEventError: if the body is not JSON, not an object, or not a valid event.
    """
    return _from_json_object(_load_json(body))


def parse_batch(body: bytes) -> list[ParsedCloudEvent | CloudEventError]:
    """Parse a batched-mode body (``application/cloudevents-batch+json``): a JSON array of events.

    Each entry is parsed independently; an invalid entry yields a
    :class:`CloudEventError` (with ``index`` set) at its position instead of failing
    the whole batch, so the caller can answer entry by entry. An empty array gives
    an empty list (the binding allows empty batches).

    :raises CloudEventError: if the body is not JSON or not a JSON array.
    """
    document = _load_json(body)
    if not isinstance(document, list):
        raise CloudEventError("a batch must be a JSON array of events")
    results: list[ParsedCloudEvent | CloudEventError] = []
    for index, entry in enumerate(document):
        try:
            results.append(_from_json_object(entry))
        except CloudEventError as error:
            results.append(error.at_index(index))
    return results


def parse_binary(headers: Mapping[str, str], body: bytes) -> ParsedCloudEvent:
    """Parse a binary-mode request: attributes in ``ce-*`` headers, the payload as the body.

    Header values are unquoted if sent as an HTTP quoted-string, then percent-decoded
    once and decoded as UTF-8 (invalid UTF-8 is rejected, as the binding requires).
    A ``%`` that does not start a valid escape is kept literally, for senders that do
    not percent-encode. ``Content-Type`` becomes ``datacontenttype``; a
    ``ce-datacontenttype`` header is refused since the binding forbids it.

    :param headers: the request headers (names case-insensitive; values as the server
        decoded them -- raw UTF-8 bytes that WSGI/ASGI decoded as latin-1 are recovered).
    :param body: the request body.
    :raises CloudEventError: if the headers do not describe a valid event, or the body
        is declared JSON but is not.
    """
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "content-type":
            content_type = value.strip() or None
        elif lowered.startswith(_HEADER_PREFIX):
            attribute = lowered[len(_HEADER_PREFIX) :]
            if attribute in attributes:
                raise CloudEventError(f"header '{name}' is repeated", attribute=attribute)
            attributes[attribute] = _decode_header_value(name, attribute, value)
    if "datacontenttype" in attributes:
        raise CloudEventError(
            "the 'ce-datacontenttype' header must not be used: in binary mode datacontenttype is the "
            "Content-Type header",
            attribute="datacontenttype",
        )
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    _validate_attributes(attributes, label=_header_label)
    return ParsedCloudEvent(attributes=attributes, data=_payload_from_bytes(body, content_type, "body"))


def _from_json_object(document: Any) -> ParsedCloudEvent:
    """Validate one event in the JSON format and split it into attributes and data."""
    if not isinstance(document, dict):
        raise CloudEventError(f"an event must be a JSON object, got {_json_type(document)}")
    data_base64 = document.get("data_base64")
    if "data" in document and data_base64 is not None:
        raise CloudEventError("an event must not have both 'data' and 'data_base64'", attribute="data_base64")
    attributes = {
        name: value
        for name, value in document.items()
        # null means "unset" for attributes (JSON format, section 2.2).
        if name not in ("data", "data_base64") and value is not None
    }
    _validate_attributes(attributes, label=_attribute_label)
    content_type = attributes.get("datacontenttype")

    data: Any = None
    if data_base64 is not None:
        if not isinstance(data_base64, str):
            raise CloudEventError(
                f"'data_base64' must be a base64 string, got {_json_type(data_base64)}",
                attribute="data_base64",
            )
        try:
            raw = base64.b64decode(data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise CloudEventError("'data_base64' is not valid base64", attribute="data_base64") from None
        data = _payload_from_bytes(raw, content_type, "'data_base64'")
    elif "data" in document:
        data = document["data"]
        if content_type is not None and not is_json(media_type(content_type)) and not isinstance(data, str | None):
            # JSON format 3.1.2: non-JSON data travels as a string in "data".
            raise CloudEventError(
                f"'data' must be a string because datacontenttype '{content_type}' is not a JSON media type "
                f"(send binary data as 'data_base64'), got {_json_type(data)}",
                attribute="data",
            )
    return ParsedCloudEvent(attributes=attributes, data=data)


def _attribute_label(name: str) -> str:
    return f"attribute '{name}'"


def _header_label(name: str) -> str:
    # In binary mode datacontenttype travels as Content-Type, every other attribute as ce-*.
    return "header 'Content-Type'" if name == "datacontenttype" else f"header 'ce-{name}'"


def _validate_attributes(attributes: dict[str, Any], *, label: Callable[[str], str]) -> None:
    """Check names, presence and values of context attributes against CloudEvents 1.0.

    ``label`` names an attribute in messages (``attribute 'id'``, ``header 'ce-id'``),
    so errors point at what the client actually sent.
    """
    for name in attributes:
        if name == "data":
            raise CloudEventError(f"{label(name)}: 'data' is a reserved name", attribute=name)
        if not _NAME_RE.fullmatch(name):
            raise CloudEventError(
                f"{label(name)}: attribute names must consist of lowercase letters a-z and digits 0-9",
                attribute=name,
            )

    # specversion first: an event of another version is best reported as such rather
    # than through whatever else that version does differently.
    if "specversion" not in attributes:
        raise CloudEventError(f"{label('specversion')} is required", attribute="specversion")
    specversion = attributes["specversion"]
    if specversion != SPECVERSION:
        raise CloudEventError(
            f"{label('specversion')} must be '{SPECVERSION}', got {_show(specversion)}",
            attribute="specversion",
        )
    for name in _REQUIRED:
        if name not in attributes:
            raise CloudEventError(f"{label(name)} is required", attribute=name)

    for name, value in attributes.items():
        shown = label(name)
        if isinstance(value, str):
            bad = _FORBIDDEN_CHARS.search(value)
            if bad:
                raise CloudEventError(
                    f"{shown} contains the forbidden character U+{ord(bad.group()):04X}", attribute=name
                )
        elif name in _STRING_ATTRIBUTES:
            raise CloudEventError(f"{shown} must be a string, got {_json_type(value)}", attribute=name)
        # bool before int: bool is an int subclass but a distinct CloudEvents type.
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if not _INT_MIN <= value <= _INT_MAX:
                raise CloudEventError(
                    f"{shown} is outside the CloudEvents Integer range (signed 32-bit)", attribute=name
                )
        else:
            raise CloudEventError(
                f"{shown} must be a string, an integer or a boolean, got {_json_type(value)}", attribute=name
            )

    # Attributes that MUST be non-empty when present (required ones always are).
    for name in ("id", "source", "type", "subject", "dataschema", "datacontenttype"):
        if attributes.get(name) == "":
            raise CloudEventError(f"{label(name)} must not be empty", attribute=name)
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _MEDIA_TYPE_RE.fullmatch(content_type):
        raise CloudEventError(
            f"{label('datacontenttype')} must be a media type such as 'application/json', got {_show(content_type)}",
            attribute="datacontenttype",
        )
    dataschema = attributes.get("dataschema")
    if dataschema is not None and not _SCHEME_RE.match(dataschema):
        raise CloudEventError(
            f"{label('dataschema')} must be an absolute URI, got {_show(dataschema)}",
            attribute="dataschema",
        )
    time = attributes.get("time")
    if time is not None and not _is_rfc3339(time):
        raise CloudEventError(
            f"{label('time')} must be an RFC 3339 timestamp such as '2026-01-01T12:00:00Z', got {_show(time)}",
            attribute="time",
        )


def _payload_from_bytes(raw: bytes, content_type: str | None, what: str) -> Any:
    """Represent payload bytes as documented for ``ParsedCloudEvent.data``."""
    if not raw:
        return None
    if content_type is None or is_json(media_type(content_type)):
        try:
            return exactjson.loads(raw)
        except orjson.JSONDecodeError:
            if content_type is not None:
                raise CloudEventError(
                    f"{what} is not valid JSON although datacontenttype is '{content_type}'", attribute="data"
                ) from None
            # Undeclared and not JSON: fall back to text/bytes.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"data_base64": base64.b64encode(raw).decode("ascii")}


def _decode_header_value(header: str, attribute: str, value: str) -> str:
    """Undo the HTTP binding's value encoding: quoted-string, then one round of percent-decoding."""
    text = value.strip(" \t")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        # Older senders may quote values; backslash escapes any character inside.
        text = re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
    try:
        # WSGI and ASGI servers decode header bytes as latin-1; this gets the bytes back.
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = text.encode("utf-8")  # the caller already holds decoded text
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise CloudEventError(
            f"header '{header}': the percent-decoded value is not valid UTF-8", attribute=attribute
        ) from None


def _is_rfc3339(value: str) -> bool:
    """Check RFC 3339 ``date-time`` syntax and that every field is in range."""
    match = _RFC3339_RE.fullmatch(value)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    offset_hours, offset_minutes = match.group(8), match.group(9)
    if offset_hours is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        return False
    # RFC 3339 allows a leap second (:60); datetime does not, and the calendar
    # check does not depend on it.
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


def _load_json(body: bytes) -> Any:
    try:
        return exactjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise CloudEventError(f"the body is not valid JSON: {error}") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _show(value: Any) -> str:
    """A value for an error message: strings quoted and shortened, other JSON values by type."""
    if isinstance(value, str):
        return repr(value if len(value) <= 64 else value[:61] + "...")
    return _json_type(value)
