"""Decoding of OTLP/HTTP export requests and encoding of their responses.

This module turns the body of an OTLP/HTTP ``POST /v1/traces`` or ``POST /v1/logs``
into plain records, and builds the bodies the OTLP specification prescribes for
the answer. It is pure: no Django, no database, no I/O. Transport concerns
(content-encoding such as gzip, body size limits, HTTP status codes) belong to
the caller.

Both OTLP/HTTP payload encodings are supported:

* ``"protobuf"`` (``application/x-protobuf``): a binary ``ExportTraceServiceRequest``
  or ``ExportLogsServiceRequest``. This is the hot path, so fields are read
  directly from the parsed messages instead of going through a generic
  message-to-dict conversion.
* ``"json"`` (``application/json``): the OTLP JSON encoding, i.e. the proto3 JSON
  mapping with the OTLP deviations: trace and span ids are (case-insensitive) hex
  rather than base64, enums are integers, and unknown fields are ignored. As the
  proto3 mapping does for any reader, 64-bit integers are accepted as strings or
  numbers and the original snake_case field names are accepted as well as the
  lowerCamelCase ones (when both appear, the lowerCamelCase one wins). Enum
  names are also accepted, as proto3 JSON readers do, although OTLP senders must
  not produce them.

Validation follows the partial-success model of the specification: a request
that cannot be decoded at all raises :class:`OtlpDecodeError` (the caller answers
``400 Bad Request`` with :func:`encode_status`), while an individual span or log
record with unusable data is left out, counted in ``rejected`` and described in
``errors``; the caller then answers ``200 OK`` with :func:`encode_export_response`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from dashboard.core.media import media_type

try:
    from google.rpc.status_pb2 import Status as _RpcStatus
except ImportError:  # pragma: no cover - googleapis-common-protos comes with the OTLP exporter
    _RpcStatus = None

__all__ = [
    "CONTENT_TYPES",
    "GRPC_INVALID_ARGUMENT",
    "MAX_ERROR_MESSAGES",
    "UNKNOWN_SERVICE",
    "Encoding",
    "LogRecordData",
    "LogsBatch",
    "OtlpDecodeError",
    "Signal",
    "SpanRecord",
    "TracesBatch",
    "decode_logs",
    "decode_traces",
    "encode_export_response",
    "encode_status",
    "encoding_from_content_type",
]

Encoding: TypeAlias = Literal["protobuf", "json"]
Signal: TypeAlias = Literal["traces", "logs"]

#: The ``Content-Type`` for each encoding; the specification requires a response to
#: use the same one as the request.
CONTENT_TYPES: dict[Encoding, str] = {
    "protobuf": "application/x-protobuf",
    "json": "application/json",
}
_ENCODINGS: dict[str, Encoding] = {media: encoding for encoding, media in CONTENT_TYPES.items()}

#: gRPC status code the specification recommends for data that must not be retried.
GRPC_INVALID_ARGUMENT = 3

#: At most this many rejection messages are kept per request. ``rejected`` is always
#: exact; the cap only bounds memory when a large request is wholly bad.
MAX_ERROR_MESSAGES = 100

#: ``service.name`` to report when the resource does not name one. OpenTelemetry
#: SDKs fall back to ``unknown_service`` (optionally suffixed with the executable
#: name), so this groups unnamed senders the same way the SDKs would have.
UNKNOWN_SERVICE = "unknown_service"

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_ZERO_TRACE_ID = bytes(_TRACE_ID_BYTES)
_ZERO_SPAN_ID = bytes(_SPAN_ID_BYTES)

# Highest defined value of each enum. Proto3 enums are open, so a newer sender can
# put a value here that this version does not know; such values are reported as 0
# (unspecified) so that consumers only ever see values they can interpret.
_MAX_SPAN_KIND = max(Span.SpanKind.values())
_MAX_STATUS_CODE = max(Status.StatusCode.values())
_MAX_SEVERITY_NUMBER = max(SeverityNumber.values())

_UINT32_MAX = 2**32 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


class OtlpDecodeError(ValueError):
    """The request as a whole cannot be decoded.

    Raised for a body that is not valid protobuf or JSON for the expected message,
    or whose JSON envelope (``resourceSpans``/``resourceLogs``, resources, scopes)
    has the wrong shape. The message is meant for the sender; the caller should
    answer ``400 Bad Request`` with :func:`encode_status`.
    """


@dataclass(slots=True)
class SpanRecord:
    """One accepted span.

    Attribute values, resource values and log bodies are converted from OTLP
    ``AnyValue`` to JSON-compatible Python: ``str``, ``bool``, ``int``, ``float``,
    ``None`` (no value set), ``list`` (array) and ``dict`` (key-value list); bytes
    become a standard base64 ``str``, and non-finite doubles become the strings
    ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (their proto3 JSON spelling),
    because JSON has no literal for them.

    Records decoded from the same resource share one ``resource`` dict; treat it
    as read-only.
    """

    trace_id: str  # 32 lowercase hex characters, never all zeros
    span_id: str  # 16 lowercase hex characters, never all zeros
    parent_span_id: str  # 16 lowercase hex characters, or "" for a root span
    trace_state: str  # W3C tracestate, verbatim
    name: str
    kind: int  # SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    service: str  # resource attribute service.name, or UNKNOWN_SERVICE
    start_ns: int  # Unix epoch nanoseconds
    end_ns: int  # Unix epoch nanoseconds, >= start_ns
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str  # instrumentation scope name
    scope_version: str
    events: list[dict[str, Any]]  # {"name": str, "time_ns": int, "attributes": dict}
    links: list[dict[str, Any]]  # {"trace_id": str, "span_id": str, "trace_state": str, "attributes": dict}
    dropped_attributes_count: int
    dropped_events_count: int
    dropped_links_count: int  # as sent, plus links dropped here for malformed ids
    flags: int  # Span.flags: W3C trace flags in bits 0-7, remote-parent bits 8-9


@dataclass(slots=True)
class LogRecordData:
    """One accepted log record. Values are converted as described on :class:`SpanRecord`."""

    time_ns: int  # when the event happened, Unix epoch nanoseconds; 0 if unknown
    observed_ns: int  # when it was observed by the collection system; 0 if unknown
    trace_id: str  # 32 lowercase hex characters, or "" when absent
    span_id: str  # 16 lowercase hex characters, or "" when absent
    severity_number: int  # SeverityNumber, 0 (unspecified) to 24
    severity_text: str
    body: Any  # JSON-compatible value, None when the record has no body
    attributes: dict[str, Any]
    resource: dict[str, Any]  # shared between records of the same resource; read-only
    service: str  # resource attribute service.name, or UNKNOWN_SERVICE
    scope: str  # instrumentation scope name
    event_name: str  # LogRecord.event_name, else the "event.name" attribute, else ""
    flags: int  # W3C trace flags in bits 0-7
    scope_version: str = ""
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class TracesBatch:
    """Result of decoding one traces request.

    Attributes:
        spans: the accepted spans, in request order.
        rejected: exact number of spans left out (the ``rejected_spans`` to report).
        errors: one message per rejected span, up to :data:`MAX_ERROR_MESSAGES`.
    """

    spans: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def error_message(self, limit: int = 5) -> str:
        """A one-line English summary suitable for ``partial_success.error_message``.

        Empty when nothing was rejected.
        """
        return _summarise("span", self.rejected, self.errors, limit)


@dataclass(slots=True)
class LogsBatch:
    """Result of decoding one logs request; fields as on :class:`TracesBatch`."""

    records: list[LogRecordData] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def error_message(self, limit: int = 5) -> str:
        """A one-line English summary suitable for ``partial_success.error_message``.

        Empty when nothing was rejected.
        """
        return _summarise("log record", self.rejected, self.errors, limit)


# --------------------------------------------------------------------------- public API


def decode_traces(body: bytes, encoding: Encoding) -> TracesBatch:
    """Decode an ``ExportTraceServiceRequest`` body.

    A span is rejected (counted, with a message, and left out) when its trace id is
    not 16 bytes or is all zeros, its span id is not 8 bytes or is all zeros, its
    parent span id is present but not 8 bytes, or it ends before it starts. An
    all-zero 8-byte parent span id is read as "no parent". In JSON, a span whose
    own fields have the wrong JSON type is rejected the same way.

    Links whose ids are malformed are dropped from their span and counted in its
    ``dropped_links_count``; the span itself is kept.

    An empty protobuf body is an empty request and yields an empty batch.

    Raises:
        OtlpDecodeError: the body is not a decodable request.
        ValueError: ``encoding`` is not one of the supported encodings.
    """
    if encoding == "protobuf":
        return _decode_traces_protobuf(body)
    if encoding == "json":
        return _decode_traces_json(body)
    raise ValueError(f"unsupported OTLP encoding: {encoding!r}")


def decode_logs(body: bytes, encoding: Encoding) -> LogsBatch:
    """Decode an ``ExportLogsServiceRequest`` body.

    A log record is rejected when its trace id or span id is present but of the
    wrong length (absent ids are fine; all-zero ids are read as absent). In JSON,
    a record whose own fields have the wrong JSON type is rejected the same way.

    Raises:
        OtlpDecodeError: the body is not a decodable request.
        ValueError: ``encoding`` is not one of the supported encodings.
    """
    if encoding == "protobuf":
        return _decode_logs_protobuf(body)
    if encoding == "json":
        return _decode_logs_json(body)
    raise ValueError(f"unsupported OTLP encoding: {encoding!r}")


def encode_export_response(signal: Signal, rejected: int, error_message: str, encoding: Encoding) -> bytes:
    """Build the body of a ``200 OK`` answer to an export request.

    Produces an ``ExportTraceServiceResponse`` (``signal="traces"``) or
    ``ExportLogsServiceResponse`` (``signal="logs"``). As the specification requires,
    ``partial_success`` is left unset on full success (``rejected == 0`` and no
    message) and set otherwise; a message with ``rejected == 0`` is how a server
    conveys a warning. The JSON form follows the proto3 mapping:
    ``{"partialSuccess": {"rejectedSpans": "2", "errorMessage": "..."}}`` with the
    int64 count as a string and zero/empty fields omitted, so full success is ``{}``.

    Raises:
        ValueError: unknown ``signal`` or ``encoding``, or a negative ``rejected``.
    """
    if rejected < 0:
        raise ValueError(f"rejected must not be negative, got {rejected}")
    _check_encoding(encoding)
    if signal not in ("traces", "logs"):
        raise ValueError(f"unsupported OTLP signal: {signal!r}")
    partial = rejected > 0 or bool(error_message)

    if encoding == "protobuf":
        response: ExportTraceServiceResponse | ExportLogsServiceResponse
        if signal == "traces":
            response = ExportTraceServiceResponse()
            if partial:
                response.partial_success.CopyFrom(
                    ExportTracePartialSuccess(rejected_spans=rejected, error_message=error_message)
                )
        else:
            response = ExportLogsServiceResponse()
            if partial:
                response.partial_success.CopyFrom(
                    ExportLogsPartialSuccess(rejected_log_records=rejected, error_message=error_message)
                )
        return response.SerializeToString()

    document: dict[str, Any] = {}
    if partial:
        partial_success: dict[str, Any] = {}
        if rejected:
            count_field = "rejectedSpans" if signal == "traces" else "rejectedLogRecords"
            partial_success[count_field] = str(rejected)  # int64: a string in proto3 JSON
        if error_message:
            partial_success["errorMessage"] = error_message
        document["partialSuccess"] = partial_success
    return orjson.dumps(document)


def encode_status(code: int, message: str, encoding: Encoding) -> bytes:
    """Build a ``google.rpc.Status`` body for a ``4xx``/``5xx`` answer.

    The specification requires every OTLP/HTTP error response to carry a Status in
    the request's encoding. Clients may only log ``code`` (a gRPC code such as
    :data:`GRPC_INVALID_ARGUMENT`), so the ``message`` should explain the problem.
    No ``details`` are attached. The JSON form is ``{"code": 3, "message": "..."}``
    (``int32`` is a JSON number), with zero/empty fields omitted.

    Raises:
        ValueError: unknown ``encoding``, or ``code`` outside the int32 range.
    """
    _check_encoding(encoding)
    if not -(2**31) <= code < 2**31:
        raise ValueError(f"code must fit in int32, got {code}")
    if encoding == "json":
        document: dict[str, Any] = {}
        if code:
            document["code"] = code
        if message:
            document["message"] = message
        return orjson.dumps(document)
    if _RpcStatus is not None:
        return _RpcStatus(code=code, message=message).SerializeToString()
    return _encode_status_fallback(code, message)  # pragma: no cover - see _encode_status_fallback


def encoding_from_content_type(content_type: str | None) -> Encoding | None:
    """Map a request ``Content-Type`` header to an encoding.

    Parameters such as ``; charset=utf-8`` and letter case are ignored. Returns
    ``None`` for a media type OTLP/HTTP does not define (the caller should answer
    ``415 Unsupported Media Type``).
    """
    return _ENCODINGS.get(media_type(content_type))


# --------------------------------------------------------------------------- shared helpers


def _check_encoding(encoding: str) -> None:
    if encoding not in CONTENT_TYPES:
        raise ValueError(f"unsupported OTLP encoding: {encoding!r}")


def _summarise(noun: str, rejected: int, errors: list[str], limit: int) -> str:
    if rejected == 0:
        return ""
    shown = errors[: max(limit, 0)]
    summary = f"{rejected} {noun}{'' if rejected == 1 else 's'} rejected"
    if shown:
        summary += ": " + "; ".join(shown)
        if rejected > len(shown):
            summary += f"; and {rejected - len(shown)} more"
    return summary


def _note(errors: list[str], message: str) -> None:
    if len(errors) < MAX_ERROR_MESSAGES:
        errors.append(message)


def _service_name(resource: Mapping[str, Any]) -> str:
    name = resource.get("service.name")
    return name if isinstance(name, str) and name else UNKNOWN_SERVICE


def _json_safe_float(value: float) -> float | str:
    # JSON has no literal for NaN or the infinities; Python's json module would emit
    # invalid JSON and PostgreSQL's jsonb refuses them. The proto3 JSON strings keep
    # the information in a form every consumer can store.
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _span_problem(trace_id: bytes, span_id: bytes, parent_span_id: bytes, start: int, end: int) -> str | None:
    """Why a span must be rejected, or None if it is acceptable."""
    if len(trace_id) != _TRACE_ID_BYTES:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id must not be all zeros"
    if len(span_id) != _SPAN_ID_BYTES:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    if span_id == _ZERO_SPAN_ID:
        return "span_id must not be all zeros"
    if parent_span_id and len(parent_span_id) != _SPAN_ID_BYTES:
        return f"parent_span_id must be empty or 8 bytes, got {len(parent_span_id)}"
    if end < start:
        return f"end time {end} is before start time {start}"
    if end > _INT64_MAX:
        return f"end time {end} is past the latest time that can be stored ({_INT64_MAX} ns, in 2262)"
    return None


def _log_problem(trace_id: bytes, span_id: bytes, time_ns: int, observed_ns: int) -> str | None:
    """Why a log record must be rejected, or None if it is acceptable."""
    if trace_id and len(trace_id) != _TRACE_ID_BYTES:
        return f"trace_id must be empty or 16 bytes, got {len(trace_id)}"
    if span_id and len(span_id) != _SPAN_ID_BYTES:
        return f"span_id must be empty or 8 bytes, got {len(span_id)}"
    if max(time_ns, observed_ns) > _INT64_MAX:
        return f"a time past the latest that can be stored ({_INT64_MAX} ns, in 2262)"
    return None


def _optional_id_hex(raw: bytes, zero: bytes) -> str:
    # W3C Trace Context makes the all-zero id invalid, so a sender that writes one
    # can only mean "no id"; it is read exactly like an empty field.
    return "" if not raw or raw == zero else raw.hex()


def _link_ids_valid(trace_id: bytes, span_id: bytes) -> bool:
    return (
        len(trace_id) == _TRACE_ID_BYTES
        and trace_id != _ZERO_TRACE_ID
        and len(span_id) == _SPAN_ID_BYTES
        and span_id != _ZERO_SPAN_ID
    )


def _event_name(event_name: str, attributes: Mapping[str, Any]) -> str:
    if event_name:
        return event_name
    # Before LogRecord.event_name existed, events were logs carrying this attribute.
    from_attribute = attributes.get("event.name")
    return from_attribute if isinstance(from_attribute, str) else ""


# --------------------------------------------------------------------------- protobuf


def _pb_value(value: AnyValue) -> Any:
    """Convert an ``AnyValue`` message to JSON-compatible Python."""
    # WhichOneof costs one call; the branches are ordered by how often each type
    # shows up in real telemetry.
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        return _json_safe_float(value.double_value)
    if which == "array_value":
        return [_pb_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return _b64(value.bytes_value)
    # Unset, or string_value_strindex: an index into a profiles dictionary, which has
    # no meaning outside the profiles signal.
    return None


def _pb_attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """Convert repeated ``KeyValue`` to a dict; if a key repeats, the last value wins."""
    attributes: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        # Fast path: most attribute values are non-empty strings, and reading
        # string_value directly saves the WhichOneof call. An empty result is
        # either an empty string or another type; _pb_value tells them apart.
        text = value.string_value
        attributes[kv.key] = text if text else _pb_value(value)
    return attributes


def _parse_protobuf(message: ExportTraceServiceRequest | ExportLogsServiceRequest, body: bytes) -> None:
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(f"request body is not a valid {type(message).__name__}: {exc}") from exc


def _decode_traces_protobuf(body: bytes) -> TracesBatch:
    request = ExportTraceServiceRequest()
    _parse_protobuf(request, body)
    batch = TracesBatch()
    spans = batch.spans
    pb_attributes = _pb_attributes
    max_kind = _MAX_SPAN_KIND
    max_status = _MAX_STATUS_CODE
    for resource_index, resource_spans in enumerate(request.resource_spans):
        resource = pb_attributes(resource_spans.resource.attributes)
        service = _service_name(resource)
        for scope_index, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            scope_name = scope.name
            scope_version = scope.version
            for span_index, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id
                span_id = span.span_id
                parent_span_id = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                problem = _span_problem(trace_id, span_id, parent_span_id, start, end)
                if problem is not None:
                    batch.rejected += 1
                    where = f"resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans[{span_index}]"
                    _note(batch.errors, f"{where}: {problem}")
                    continue

                dropped_links = span.dropped_links_count
                links: list[dict[str, Any]] = []
                # Testing for emptiness first is cheaper than iterating an empty
                # repeated field, and most spans have neither links nor events.
                span_links = span.links
                for link in span_links if span_links else ():
                    link_trace_id = link.trace_id
                    link_span_id = link.span_id
                    if _link_ids_valid(link_trace_id, link_span_id):
                        links.append(
                            {
                                "trace_id": link_trace_id.hex(),
                                "span_id": link_span_id.hex(),
                                "trace_state": link.trace_state,
                                "attributes": pb_attributes(link.attributes),
                            }
                        )
                    else:
                        dropped_links += 1

                span_events = span.events
                kind = span.kind
                status = span.status
                status_code = status.code
                spans.append(
                    SpanRecord(
                        trace_id=trace_id.hex(),
                        span_id=span_id.hex(),
                        parent_span_id=_optional_id_hex(parent_span_id, _ZERO_SPAN_ID),
                        trace_state=span.trace_state,
                        name=span.name,
                        kind=kind if 0 <= kind <= max_kind else 0,
                        service=service,
                        start_ns=start,
                        end_ns=end,
                        status_code=status_code if 0 <= status_code <= max_status else 0,
                        status_message=status.message,
                        attributes=pb_attributes(span.attributes),
                        resource=resource,
                        scope=scope_name,
                        scope_version=scope_version,
                        events=[
                            {
                                "name": event.name,
                                "time_ns": event.time_unix_nano,
                                "attributes": pb_attributes(event.attributes),
                            }
                            for event in span_events
                        ]
                        if span_events
                        else [],
                        links=links,
                        dropped_attributes_count=span.dropped_attributes_count,
                        dropped_events_count=span.dropped_events_count,
                        dropped_links_count=dropped_links,
                        flags=span.flags,
                    )
                )
    return batch


def _decode_logs_protobuf(body: bytes) -> LogsBatch:
    request = ExportLogsServiceRequest()
    _parse_protobuf(request, body)
    batch = LogsBatch()
    records = batch.records
    for resource_index, resource_logs in enumerate(request.resource_logs):
        resource = _pb_attributes(resource_logs.resource.attributes)
        service = _service_name(resource)
        for scope_index, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope
            scope_name = scope.name
            scope_version = scope.version
            for record_index, record in enumerate(scope_logs.log_records):
                trace_id = record.trace_id
                span_id = record.span_id
                problem = _log_problem(trace_id, span_id, record.time_unix_nano, record.observed_time_unix_nano)
                if problem is not None:
                    batch.rejected += 1
                    where = f"resourceLogs[{resource_index}].scopeLogs[{scope_index}].logRecords[{record_index}]"
                    _note(batch.errors, f"{where}: {problem}")
                    continue
                attributes = _pb_attributes(record.attributes)
                severity = record.severity_number
                records.append(
                    LogRecordData(
                        time_ns=record.time_unix_nano,
                        observed_ns=record.observed_time_unix_nano,
                        trace_id=_optional_id_hex(trace_id, _ZERO_TRACE_ID),
                        span_id=_optional_id_hex(span_id, _ZERO_SPAN_ID),
                        severity_number=severity if 0 <= severity <= _MAX_SEVERITY_NUMBER else 0,
                        severity_text=record.severity_text,
                        body=_pb_value(record.body),
                        attributes=attributes,
                        resource=resource,
                        service=service,
                        scope=scope_name,
                        event_name=_event_name(record.event_name, attributes),
                        flags=record.flags,
                        scope_version=scope_version,
                        dropped_attributes_count=record.dropped_attributes_count,
                    )
                )
    return batch


# --------------------------------------------------------------------------- JSON


class _Malformed(Exception):
    """A JSON value does not have the shape the OTLP schema gives it.

    Raised inside a span or log record it rejects only that item; raised in the
    envelope around them it becomes an :class:`OtlpDecodeError`.
    """


_HEX = re.compile(r"[0-9a-fA-F]*")
_DIGITS = re.compile(r"-?[0-9]{1,20}")  # an int64/uint64 has at most 20 digits
_SPAN_KIND_NAMES: dict[str, int] = dict(Span.SpanKind.items())
_STATUS_CODE_NAMES: dict[str, int] = dict(Status.StatusCode.items())
_SEVERITY_NUMBER_NAMES: dict[str, int] = dict(SeverityNumber.items())


def _get(obj: Mapping[str, Any], json_name: str, proto_name: str) -> Any:
    """A field by its lowerCamelCase name, else its original name; None if absent or null."""
    value = obj.get(json_name)
    if value is None and proto_name != json_name:
        value = obj.get(proto_name)
    return value


def _as_object(value: Any, path: str) -> Mapping[str, Any]:
    # In the proto3 JSON mapping, null means "field not set".
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{path} must be a JSON object")
    return value


def _as_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{path} must be a JSON array")
    return value


def _as_str(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Malformed(f"{path} must be a string")
    return value


def _as_bool(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Malformed(f"{path} must be true or false")
    return value


def _as_int(value: Any, path: str, low: int, high: int) -> int:
    """An integer field, given as a JSON number or a decimal string (proto3 accepts both)."""
    if value is None:
        return 0
    result: int
    if isinstance(value, bool):
        raise _Malformed(f"{path} must be an integer")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise _Malformed(f"{path} must be an integer, got {value!r}")
        result = int(value)
    elif isinstance(value, str):
        if _DIGITS.fullmatch(value) is None:
            raise _Malformed(f"{path} must be an integer, got {value!r}")
        result = int(value)
    else:
        raise _Malformed(f"{path} must be an integer")
    if not low <= result <= high:
        raise _Malformed(f"{path} is out of range: {result}")
    return result


def _as_uint64(value: Any, path: str) -> int:
    return _as_int(value, path, 0, _UINT64_MAX)


def _as_uint32(value: Any, path: str) -> int:
    return _as_int(value, path, 0, _UINT32_MAX)


def _as_enum(value: Any, path: str, names: Mapping[str, int], highest: int) -> int:
    """An enum field: an integer (OTLP's required form) or a value name.

    Values this version does not define are reported as 0, as for protobuf.
    """
    number = names[value] if isinstance(value, str) and value in names else _as_int(value, path, -(2**31), 2**31 - 1)
    return number if 0 <= number <= highest else 0


def _as_double(value: Any, path: str) -> float | str:
    if isinstance(value, bool):
        raise _Malformed(f"{path} must be a number")
    if isinstance(value, (int, float)):
        return _json_safe_float(float(value))
    if isinstance(value, str):
        # proto3 JSON spells the non-finite values as strings and allows numbers in
        # strings; float() accepts exactly those spellings (and a few more that are
        # harmless, such as "inf").
        try:
            return _json_safe_float(float(value))
        except ValueError:
            pass
    raise _Malformed(f"{path} must be a number")


def _as_base64(value: Any, path: str) -> str:
    """A bytes field: proto3 JSON allows standard or URL-safe base64, padded or not.

    Returned re-encoded as padded standard base64, the same form protobuf input gets.
    """
    text = _as_str(value, path)
    normalised = text.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return _b64(base64.b64decode(normalised, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _Malformed(f"{path} must be base64") from exc


def _as_id(value: Any, path: str) -> bytes:
    """A trace or span id: hex in OTLP JSON (not base64 as in plain proto3 JSON).

    Only the encoding is checked here; the length is judged by the caller, exactly as
    for protobuf input.
    """
    text = _as_str(value, path)
    if len(text) % 2 or _HEX.fullmatch(text) is None:
        hint = " (OTLP JSON ids are hex, not base64)" if len(text) in (12, 24) else ""
        raise _Malformed(f"{path} must be a hex string, got {text!r}{hint}")
    return bytes.fromhex(text)


# Values nested deeper than this are refused: they are stored as JSON, which is not written past
# about 250 levels, and no instrumentation nests attribute values anywhere near this.
MAX_VALUE_DEPTH = 64


def _check_depth(path: str) -> None:
    if path.count("Value.values") >= MAX_VALUE_DEPTH:
        raise _Malformed(f"{path} nests values more than {MAX_VALUE_DEPTH} levels deep")


def _json_value(value: Any, path: str) -> Any:
    """Convert an ``AnyValue`` JSON object to JSON-compatible Python."""
    obj = _as_object(value, path)
    found = _get(obj, "stringValue", "string_value")
    if found is not None:
        return _as_str(found, f"{path}.stringValue")
    found = _get(obj, "intValue", "int_value")
    if found is not None:
        return _as_int(found, f"{path}.intValue", _INT64_MIN, _INT64_MAX)
    found = _get(obj, "boolValue", "bool_value")
    if found is not None:
        return _as_bool(found, f"{path}.boolValue")
    found = _get(obj, "doubleValue", "double_value")
    if found is not None:
        return _as_double(found, f"{path}.doubleValue")
    found = _get(obj, "arrayValue", "array_value")
    if found is not None:
        _check_depth(path)
        items_path = f"{path}.arrayValue.values"
        items = _as_list(_as_object(found, f"{path}.arrayValue").get("values"), items_path)
        return [_json_value(item, f"{items_path}[{index}]") for index, item in enumerate(items)]
    found = _get(obj, "kvlistValue", "kvlist_value")
    if found is not None:
        _check_depth(path)
        return _json_attributes(_as_object(found, f"{path}.kvlistValue").get("values"), f"{path}.kvlistValue.values")
    found = _get(obj, "bytesValue", "bytes_value")
    if found is not None:
        return _as_base64(found, f"{path}.bytesValue")
    return None


def _json_attributes(value: Any, path: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for index, item in enumerate(_as_list(value, path)):
        item_path = f"{path}[{index}]"
        key_value = _as_object(item, item_path)
        key = _as_str(key_value.get("key"), f"{item_path}.key")
        attributes[key] = _json_value(key_value.get("value"), f"{item_path}.value")
    return attributes


def _load_json(body: bytes, json_name: str, proto_name: str) -> list[Any]:
    """Parse a JSON request body and return its top-level resource list."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise OtlpDecodeError("request body must be a JSON object")
    try:
        return _as_list(_get(document, json_name, proto_name), json_name)
    except _Malformed as exc:
        raise OtlpDecodeError(str(exc)) from exc


_ItemT = TypeVar("_ItemT")
# (item JSON, item path, resource attributes, service name, scope name, scope version) -> record
_ItemDecoder: TypeAlias = Callable[[Any, str, dict[str, Any], str, str, str], _ItemT]


def _decode_json_items(
    body: bytes,
    resources_name: tuple[str, str],
    scopes_name: tuple[str, str],
    items_name: tuple[str, str],
    decode_item: _ItemDecoder[_ItemT],
) -> tuple[list[_ItemT], int, list[str]]:
    """Walk the resource -> scope -> item nesting shared by every OTLP signal.

    Each ``*_name`` pair is the (lowerCamelCase, original) field name of a list.
    Shape errors in the envelope raise :class:`OtlpDecodeError`; a ``_Malformed``
    raised by ``decode_item`` rejects only that item.

    Returns:
        The decoded items, the number rejected, and the rejection messages.
    """
    resources = _load_json(body, *resources_name)
    items: list[_ItemT] = []
    rejected = 0
    errors: list[str] = []
    try:
        for resource_index, resource_entry in enumerate(resources):
            resource_path = f"{resources_name[0]}[{resource_index}]"
            resource_obj = _as_object(resource_entry, resource_path)
            resource_msg = _as_object(resource_obj.get("resource"), f"{resource_path}.resource")
            resource = _json_attributes(resource_msg.get("attributes"), f"{resource_path}.resource.attributes")
            service = _service_name(resource)
            scopes_path = f"{resource_path}.{scopes_name[0]}"
            for scope_index, scope_entry in enumerate(_as_list(_get(resource_obj, *scopes_name), scopes_path)):
                scope_path = f"{scopes_path}[{scope_index}]"
                scope_obj = _as_object(scope_entry, scope_path)
                scope_msg = _as_object(scope_obj.get("scope"), f"{scope_path}.scope")
                scope_name = _as_str(scope_msg.get("name"), f"{scope_path}.scope.name")
                scope_version = _as_str(scope_msg.get("version"), f"{scope_path}.scope.version")
                items_path = f"{scope_path}.{items_name[0]}"
                for item_index, item in enumerate(_as_list(_get(scope_obj, *items_name), items_path)):
                    try:
                        decoded = decode_item(
                            item, f"{items_path}[{item_index}]", resource, service, scope_name, scope_version
                        )
                    except _Malformed as exc:
                        rejected += 1
                        _note(errors, str(exc))
                    else:
                        items.append(decoded)
    except _Malformed as exc:
        raise OtlpDecodeError(str(exc)) from exc
    return items, rejected, errors


def _decode_traces_json(body: bytes) -> TracesBatch:
    spans, rejected, errors = _decode_json_items(
        body,
        ("resourceSpans", "resource_spans"),
        ("scopeSpans", "scope_spans"),
        ("spans", "spans"),
        _json_span,
    )
    return TracesBatch(spans=spans, rejected=rejected, errors=errors)


def _decode_logs_json(body: bytes) -> LogsBatch:
    records, rejected, errors = _decode_json_items(
        body,
        ("resourceLogs", "resource_logs"),
        ("scopeLogs", "scope_logs"),
        ("logRecords", "log_records"),
        _json_log_record,
    )
    return LogsBatch(records=records, rejected=rejected, errors=errors)


def _json_span(
    value: Any,
    path: str,
    resource: dict[str, Any],
    service: str,
    scope_name: str,
    scope_version: str,
) -> SpanRecord:
    """Decode one span object; raises ``_Malformed`` (with ``path``) to reject it."""
    span = _as_object(value, path)
    trace_id = _as_id(_get(span, "traceId", "trace_id"), f"{path}.traceId")
    span_id = _as_id(_get(span, "spanId", "span_id"), f"{path}.spanId")
    parent_span_id = _as_id(_get(span, "parentSpanId", "parent_span_id"), f"{path}.parentSpanId")
    start = _as_uint64(_get(span, "startTimeUnixNano", "start_time_unix_nano"), f"{path}.startTimeUnixNano")
    end = _as_uint64(_get(span, "endTimeUnixNano", "end_time_unix_nano"), f"{path}.endTimeUnixNano")
    problem = _span_problem(trace_id, span_id, parent_span_id, start, end)
    if problem is not None:
        raise _Malformed(f"{path}: {problem}")

    events: list[dict[str, Any]] = []
    for index, event_value in enumerate(_as_list(span.get("events"), f"{path}.events")):
        event_path = f"{path}.events[{index}]"
        event = _as_object(event_value, event_path)
        events.append(
            {
                "name": _as_str(event.get("name"), f"{event_path}.name"),
                "time_ns": _as_uint64(_get(event, "timeUnixNano", "time_unix_nano"), f"{event_path}.timeUnixNano"),
                "attributes": _json_attributes(event.get("attributes"), f"{event_path}.attributes"),
            }
        )

    dropped_links = _as_uint32(_get(span, "droppedLinksCount", "dropped_links_count"), f"{path}.droppedLinksCount")
    links: list[dict[str, Any]] = []
    for index, link_value in enumerate(_as_list(span.get("links"), f"{path}.links")):
        link_path = f"{path}.links[{index}]"
        link = _as_object(link_value, link_path)
        try:
            link_trace_id = _as_id(_get(link, "traceId", "trace_id"), f"{link_path}.traceId")
            link_span_id = _as_id(_get(link, "spanId", "span_id"), f"{link_path}.spanId")
        except _Malformed:
            link_trace_id = link_span_id = b""
        if not _link_ids_valid(link_trace_id, link_span_id):
            dropped_links += 1
            continue
        links.append(
            {
                "trace_id": link_trace_id.hex(),
                "span_id": link_span_id.hex(),
                "trace_state": _as_str(_get(link, "traceState", "trace_state"), f"{link_path}.traceState"),
                "attributes": _json_attributes(link.get("attributes"), f"{link_path}.attributes"),
            }
        )

    status = _as_object(span.get("status"), f"{path}.status")
    return SpanRecord(
        trace_id=trace_id.hex(),
        span_id=span_id.hex(),
        parent_span_id=_optional_id_hex(parent_span_id, _ZERO_SPAN_ID),
        trace_state=_as_str(_get(span, "traceState", "trace_state"), f"{path}.traceState"),
        name=_as_str(span.get("name"), f"{path}.name"),
        kind=_as_enum(span.get("kind"), f"{path}.kind", _SPAN_KIND_NAMES, _MAX_SPAN_KIND),
        service=service,
        start_ns=start,
        end_ns=end,
        status_code=_as_enum(status.get("code"), f"{path}.status.code", _STATUS_CODE_NAMES, _MAX_STATUS_CODE),
        status_message=_as_str(status.get("message"), f"{path}.status.message"),
        attributes=_json_attributes(span.get("attributes"), f"{path}.attributes"),
        resource=resource,
        scope=scope_name,
        scope_version=scope_version,
        events=events,
        links=links,
        dropped_attributes_count=_as_uint32(
            _get(span, "droppedAttributesCount", "dropped_attributes_count"), f"{path}.droppedAttributesCount"
        ),
        dropped_events_count=_as_uint32(
            _get(span, "droppedEventsCount", "dropped_events_count"), f"{path}.droppedEventsCount"
        ),
        dropped_links_count=dropped_links,
        flags=_as_uint32(span.get("flags"), f"{path}.flags"),
    )


def _json_log_record(
    value: Any,
    path: str,
    resource: dict[str, Any],
    service: str,
    scope_name: str,
    scope_version: str,
) -> LogRecordData:
    """Decode one log record object; raises ``_Malformed`` (with ``path``) to reject it."""
    log = _as_object(value, path)
    trace_id = _as_id(_get(log, "traceId", "trace_id"), f"{path}.traceId")
    span_id = _as_id(_get(log, "spanId", "span_id"), f"{path}.spanId")
    time_ns = _as_uint64(_get(log, "timeUnixNano", "time_unix_nano"), f"{path}.timeUnixNano")
    observed_ns = _as_uint64(
        _get(log, "observedTimeUnixNano", "observed_time_unix_nano"), f"{path}.observedTimeUnixNano"
    )
    problem = _log_problem(trace_id, span_id, time_ns, observed_ns)
    if problem is not None:
        raise _Malformed(f"{path}: {problem}")
    attributes = _json_attributes(log.get("attributes"), f"{path}.attributes")
    return LogRecordData(
        time_ns=time_ns,
        observed_ns=observed_ns,
        trace_id=_optional_id_hex(trace_id, _ZERO_TRACE_ID),
        span_id=_optional_id_hex(span_id, _ZERO_SPAN_ID),
        severity_number=_as_enum(
            _get(log, "severityNumber", "severity_number"),
            f"{path}.severityNumber",
            _SEVERITY_NUMBER_NAMES,
            _MAX_SEVERITY_NUMBER,
        ),
        severity_text=_as_str(_get(log, "severityText", "severity_text"), f"{path}.severityText"),
        body=_json_value(log.get("body"), f"{path}.body"),
        attributes=attributes,
        resource=resource,
        service=service,
        scope=scope_name,
        event_name=_event_name(_as_str(_get(log, "eventName", "event_name"), f"{path}.eventName"), attributes),
        flags=_as_uint32(log.get("flags"), f"{path}.flags"),
        scope_version=scope_version,
        dropped_attributes_count=_as_uint32(
            _get(log, "droppedAttributesCount", "dropped_attributes_count"), f"{path}.droppedAttributesCount"
        ),
    )


# --------------------------------------------------------------------------- google.rpc.Status fallback


def _varint(number: int) -> bytes:
    # int32 values are sign-extended to 64 bits on the wire, so negatives take 10 bytes.
    number &= _UINT64_MAX
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _encode_status_fallback(code: int, message: str) -> bytes:
    """Serialise ``google.rpc.Status{code, message}`` without the generated class.

    Used only if googleapis-common-protos is not installed. Field 1 (``code``) is a
    varint, field 2 (``message``) is length-delimited; defaults are omitted as proto3
    serialisers do, so the output is byte-identical to the generated class.
    """
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    if message:
        encoded = message.encode("utf-8")
        out += b"\x12" + _varint(len(encoded)) + encoded
    return bytes(out)
