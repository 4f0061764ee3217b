"""Parsing incoming trace-context headers, and the trace ids that URLs and queries name.

Two header formats are understood:

* W3C Trace Context ``traceparent`` (levels 1 and 2), including the rules the
  specification gives for parsing headers of versions newer than ``00``.
* The AWS X-Ray ``X-Amzn-Trace-Id`` header, converted to the W3C id form that
  AWS itself uses when it bridges X-Ray and OpenTelemetry.

Everything here is pure: no Django, no I/O. Parsers never raise on bad input;
they return ``None`` so a caller can simply start a new trace, which is what
both specifications ask a receiver to do with a header it cannot use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "TRACE_ID_PATTERN",
    "TraceContext",
    "parse_pasted_trace_id",
    "parse_trace_id",
    "parse_traceparent",
    "parse_xray_header",
]

#: A trace id as URLs and queries may name it: 32 hex digits in either case (stored lowercase).
TRACE_ID_PATTERN = "[0-9a-fA-F]{32}"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The caller's position in a distributed trace.

    Attributes:
        trace_id: 32 lowercase hex characters, never all zeros.
        parent_span_id: 16 lowercase hex characters naming the caller's span, never
            all zeros; ``""`` when the header named a trace but no parent (X-Ray
            headers written by a load balancer do this).
        sampled: the caller's sampling decision, or ``None`` when the header does not
            carry one (X-Ray ``Sampled=?`` or no ``Sampled`` field at all).
    """

    trace_id: str
    parent_span_id: str
    sampled: bool | None


# HTTP optional whitespace is only SP and HTAB (RFC 9110 section 5.6.3); a traceparent
# value surrounded by it is still valid, per the W3C test suite.
_OWS = " \t"

# Version-00 layout. Everything the specification calls hex is lowercase hex
# (HEXDIGLC); an uppercase character makes the header invalid, not merely unusual.
# For versions above 00 the specification says to read the same three fields and
# accept anything after them provided it starts with a dash, hence the optional tail.
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<parent_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?",
    re.DOTALL,
)
_TRACEPARENT_V00_LENGTH = 55
_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16
_FLAG_SAMPLED = 0x01

_TRACE_ID = re.compile(TRACE_ID_PATTERN)

# X-Ray writes ids in lowercase; a tolerant reader accepts either case and
# normalises, because the ids are case-insensitive numbers in both systems.
_XRAY_ROOT = re.compile(r"1-(?P<epoch>[0-9a-fA-F]{8})-(?P<unique>[0-9a-fA-F]{24})")
_XRAY_PARENT = re.compile(r"[0-9a-fA-F]{16}")


def parse_trace_id(value: str) -> str | None:
    """``value`` as a stored trace id: 32 hex characters, either case, returned lowercase (the form
    every stored span, event and log carries); None when it is anything else.

    An all-zero id is not refused here: it names no trace, so looking it up finds nothing.
    """
    return value.lower() if _TRACE_ID.fullmatch(value) else None


def parse_pasted_trace_id(value: str) -> str | None:
    """A trace id as a person pastes it: a W3C id (32 hex, either case) or an X-Ray trace id
    (``1-<8 hex>-<24 hex>``, the form AWS consoles show), as the stored 32-hex id; None otherwise.
    Surrounding whitespace is ignored. The find box and replay selections read trace ids this way."""
    text = value.strip()
    xray = _XRAY_ROOT.fullmatch(text)
    if xray:
        return (xray["epoch"] + xray["unique"]).lower()
    return parse_trace_id(text)


def parse_traceparent(value: str | None) -> TraceContext | None:
    """Parse a W3C ``traceparent`` header value.

    Contract:
        * Leading and trailing spaces/tabs are ignored.
        * Version ``00`` must be exactly ``00-<32 hex>-<16 hex>-<2 hex>``; anything
          extra makes it invalid.
        * Version ``ff`` is invalid.
        * Any other version is parsed by the forward-compatibility rules: the header
          must be at least 55 characters, the three known fields are read in the
          version-00 layout, and what follows the flags must be empty or start
          with ``-``; those extra fields are ignored.
        * All hex must be lowercase; an all-zero trace id or parent id is invalid.
        * ``sampled`` is the low bit of the flags. Other bits (such as the level-2
          random-trace-id bit) do not affect the result.

    Returns:
        The parsed context, or ``None`` for a missing or invalid header (the caller
        should then start a new trace).
    """
    if value is None:
        return None
    value = value.strip(_OWS)
    if len(value) < _TRACEPARENT_V00_LENGTH:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version = match["version"]
    if version == "ff":
        return None
    if version == "00" and match["rest"] is not None:
        return None
    trace_id = match["trace_id"]
    parent_id = match["parent_id"]
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_SPAN_ID:
        return None
    sampled = bool(int(match["flags"], 16) & _FLAG_SAMPLED)
    return TraceContext(trace_id=trace_id, parent_span_id=parent_id, sampled=sampled)


def parse_xray_header(value: str | None) -> TraceContext | None:
    """Parse an AWS X-Ray ``X-Amzn-Trace-Id`` header value.

    The header is a ``;``-separated list of ``Key=Value`` fields, for example
    ``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1``.

    Contract:
        * ``Root`` is required and must be ``1-<8 hex>-<24 hex>``; the trace id is the
          two hex parts joined (the epoch seconds then the unique part), which is the
          32-hex W3C form AWS uses for the same trace. It must not be all zeros.
        * ``Parent`` is optional; when present and non-empty it must be 16 hex
          characters and not all zeros, otherwise the whole header is invalid.
        * ``Sampled=1`` means sampled, ``Sampled=0`` not sampled; ``?`` (decision
          left to the receiver), an unknown value, or no ``Sampled`` field gives
          ``None``.
        * Whitespace around fields, keys and values is ignored, key names are
          matched case-insensitively, field order does not matter, empty fields
          and fields without ``=`` are skipped, and other keys (``Self``,
          ``Lineage``, custom data) are ignored. If a key repeats, the first
          occurrence wins.
        * Hex is accepted in either case and returned lowercase.

    Returns:
        The parsed context, or ``None`` for a missing or invalid header.
    """
    if not value:
        return None
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, field_value = part.partition("=")
        if not sep:
            continue
        fields.setdefault(key.strip().lower(), field_value.strip())

    root = fields.get("root")
    if root is None:
        return None
    root_match = _XRAY_ROOT.fullmatch(root)
    if root_match is None:
        return None
    trace_id = (root_match["epoch"] + root_match["unique"]).lower()
    if trace_id == _ZERO_TRACE_ID:
        return None

    parent_id = fields.get("parent", "")
    if parent_id:
        if _XRAY_PARENT.fullmatch(parent_id) is None:
            return None
        parent_id = parent_id.lower()
        if parent_id == _ZERO_SPAN_ID:
            return None

    sampled_value = fields.get("sampled")
    sampled = True if sampled_value == "1" else False if sampled_value == "0" else None
    return TraceContext(trace_id=trace_id, parent_span_id=parent_id, sampled=sampled)
