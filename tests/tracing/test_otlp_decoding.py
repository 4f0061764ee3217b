"""OTLP/HTTP request decoding and response encoding (tracing.otlp).

Protobuf requests come from the OpenTelemetry SDK's own OTLP encoder, the one its
HTTP exporter sends. JSON requests are written by hand following the OTLP JSON
encoding rules, and are cross-checked against protobuf's own JSON parser.
"""

from __future__ import annotations

import base64
import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tracing import otlp
from tracing.otlp import (
    MAX_ERROR_MESSAGES,
    LogsBatch,
    OtlpDecodeError,
    SpanRecord,
    TracesBatch,
    decode_logs,
    decode_traces,
    encode_export_response,
    encode_status,
    encoding_from_content_type,
)

LINKED_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
LINKED_SPAN_ID = 0xB7AD6B7169203331
REMOTE_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
REMOTE_PARENT_ID = 0x00F067AA0BA902B7


# --------------------------------------------------------------------------- SDK-produced requests


def _hex_trace(trace_id: int) -> str:
    return f"{trace_id:032x}"


def _hex_span(span_id: int) -> str:
    return f"{span_id:016x}"


def _finished_spans() -> list[ReadableSpan]:
    """Spans as the SDK records them: two resources, three scopes, parents, events, links, statuses."""
    checkout = TracerProvider(
        resource=Resource.create({"service.name": "checkout", "deployment.environment.name": "prod"})
    )
    # Resource() (unlike Resource.create) adds no defaults, so this one has no service.name.
    nameless = TracerProvider(resource=Resource({"host.name": "worker-1"}))
    exporter = InMemorySpanExporter()
    checkout.add_span_processor(SimpleSpanProcessor(exporter))
    nameless.add_span_processor(SimpleSpanProcessor(exporter))

    http = checkout.get_tracer("app.http", "1.0.0")
    db = checkout.get_tracer("app.db", "2.1")
    jobs = nameless.get_tracer("app.jobs")

    with http.start_as_current_span(
        "GET /orders",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "app.ratio": 0.25,
            "app.cached": False,
            "app.tags": ["a", "b"],
            "app.codes": [1, 2, 3],
        },
    ) as root:
        root.add_event("cache.miss", {"cache.key": "orders:1", "cache.attempts": 2})
        link = Link(
            SpanContext(LINKED_TRACE_ID, LINKED_SPAN_ID, is_remote=True, trace_flags=TraceFlags(1)),
            {"link.reason": "batch"},
        )
        with db.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, links=[link]) as child:
            child.set_status(Status(StatusCode.ERROR, "timeout"))
        root.set_status(Status(StatusCode.OK))

    remote_parent = trace_api.set_span_in_context(
        trace_api.NonRecordingSpan(
            SpanContext(REMOTE_TRACE_ID, REMOTE_PARENT_ID, is_remote=True, trace_flags=TraceFlags(1))
        )
    )
    with jobs.start_as_current_span("process job", kind=SpanKind.CONSUMER, context=remote_parent):
        pass
    return list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def sdk_spans() -> list[ReadableSpan]:
    return _finished_spans()


@pytest.fixture(scope="module")
def sdk_body(sdk_spans: list[ReadableSpan]) -> bytes:
    return encode_spans(sdk_spans).SerializeToString()


@pytest.fixture(scope="module")
def decoded(sdk_body: bytes) -> dict[str, SpanRecord]:
    batch = decode_traces(sdk_body, "protobuf")
    assert batch.rejected == 0
    return {span.name: span for span in batch.spans}


def _readable_span(attributes: dict[str, Any], **overrides: Any) -> ReadableSpan:
    """A finished span built directly, to reach AnyValue types the SDK's attribute rules filter out."""
    fields: dict[str, Any] = {
        "name": "direct",
        "context": SpanContext(REMOTE_TRACE_ID, 0x1111111111111111, is_remote=False),
        "resource": Resource({"service.name": "direct"}),
        "attributes": attributes,
        "start_time": 1_700_000_000_000_000_000,
        "end_time": 1_700_000_000_500_000_000,
        "instrumentation_scope": InstrumentationScope("direct.scope", "0.1"),
    }
    fields.update(overrides)
    return ReadableSpan(**fields)


def _protobuf_request(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


# --------------------------------------------------------------------------- protobuf: content


def test_it_decodes_every_span_the_sdk_exported(sdk_spans: list[ReadableSpan], decoded: dict[str, SpanRecord]) -> None:
    assert set(decoded) == {span.name for span in sdk_spans}
    for span in sdk_spans:
        record = decoded[span.name]
        assert record.trace_id == _hex_trace(span.context.trace_id)
        assert record.span_id == _hex_span(span.context.span_id)
        assert record.start_ns == span.start_time
        assert record.end_ns == span.end_time


def test_it_links_a_child_to_its_parent_and_leaves_a_root_without_one(decoded: dict[str, SpanRecord]) -> None:
    root, child = decoded["GET /orders"], decoded["SELECT orders"]
    assert root.parent_span_id == ""
    assert child.parent_span_id == root.span_id
    assert child.trace_id == root.trace_id


def test_it_keeps_a_remote_parent_and_the_remote_flags(decoded: dict[str, SpanRecord]) -> None:
    job = decoded["process job"]
    assert job.trace_id == _hex_trace(REMOTE_TRACE_ID)
    assert job.parent_span_id == _hex_span(REMOTE_PARENT_ID)
    # Span.flags: bit 8 says whether the parent's remoteness is known, bit 9 that it is remote.
    assert job.flags & 0x300 == 0x300


def test_it_reads_kind_and_status_as_enum_integers(decoded: dict[str, SpanRecord]) -> None:
    assert (decoded["GET /orders"].kind, decoded["GET /orders"].status_code) == (2, 1)
    assert (decoded["SELECT orders"].kind, decoded["SELECT orders"].status_code) == (3, 2)
    assert decoded["SELECT orders"].status_message == "timeout"
    assert (decoded["process job"].kind, decoded["process job"].status_code) == (5, 0)


def test_it_converts_sdk_attributes_to_plain_python(decoded: dict[str, SpanRecord]) -> None:
    assert decoded["GET /orders"].attributes == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "app.ratio": 0.25,
        "app.cached": False,
        "app.tags": ["a", "b"],
        "app.codes": [1, 2, 3],
    }


def test_it_decodes_span_events_with_their_time_and_attributes(
    sdk_spans: list[ReadableSpan], decoded: dict[str, SpanRecord]
) -> None:
    sdk_event = next(span for span in sdk_spans if span.name == "GET /orders").events[0]
    assert decoded["GET /orders"].events == [
        {
            "name": "cache.miss",
            "time_ns": sdk_event.timestamp,
            "attributes": {"cache.key": "orders:1", "cache.attempts": 2},
        }
    ]
    assert decoded["SELECT orders"].events == []


def test_it_decodes_links_with_their_ids_and_attributes(decoded: dict[str, SpanRecord]) -> None:
    assert decoded["SELECT orders"].links == [
        {
            "trace_id": _hex_trace(LINKED_TRACE_ID),
            "span_id": _hex_span(LINKED_SPAN_ID),
            "trace_state": "",
            "attributes": {"link.reason": "batch"},
        }
    ]
    assert decoded["SELECT orders"].dropped_links_count == 0


def test_it_attributes_each_span_to_its_own_resource_and_scope(decoded: dict[str, SpanRecord]) -> None:
    root, child, job = decoded["GET /orders"], decoded["SELECT orders"], decoded["process job"]
    assert (root.service, root.scope, root.scope_version) == ("checkout", "app.http", "1.0.0")
    assert (child.service, child.scope, child.scope_version) == ("checkout", "app.db", "2.1")
    assert root.resource["deployment.environment.name"] == "prod"
    assert root.resource["telemetry.sdk.language"] == "python"
    assert job.resource == {"host.name": "worker-1"}
    assert (job.scope, job.scope_version) == ("app.jobs", "")


def test_it_reports_unknown_service_when_the_resource_has_no_service_name(
    decoded: dict[str, SpanRecord],
) -> None:
    assert decoded["process job"].service == "unknown_service"


def test_it_converts_every_any_value_type_to_json_compatible_python() -> None:
    attributes = {
        "string": "text",
        "empty string": "",
        "true": True,
        "false": False,
        "int": -42,
        "int64 max": 2**63 - 1,
        "zero": 0,
        "double": 1.5,
        "bytes": b"\x00\xffdata",
        "array": ["a", "b"],
        "mixed array": [1, "two", 3.5, None, b"\x01", [True]],
        "empty array": [],
        "map": {"inner": {"deep": [1, {"k": "v"}]}, "flag": True},
        "empty map": {},
        "no value": None,
    }
    body = encode_spans([_readable_span(attributes)]).SerializeToString()
    (record,) = decode_traces(body, "protobuf").spans
    assert record.attributes == {
        "string": "text",
        "empty string": "",
        "true": True,
        "false": False,
        "int": -42,
        "int64 max": 2**63 - 1,
        "zero": 0,
        "double": 1.5,
        "bytes": base64.b64encode(b"\x00\xffdata").decode(),
        "array": ["a", "b"],
        "mixed array": [1, "two", 3.5, None, "AQ==", [True]],
        "empty array": [],
        "map": {"inner": {"deep": [1, {"k": "v"}]}, "flag": True},
        "empty map": {},
        "no value": None,
    }
    assert orjson.loads(orjson.dumps(record.attributes)) == record.attributes


def test_it_spells_non_finite_doubles_as_their_proto_json_strings() -> None:
    attributes = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "list": [math.nan]}
    body = encode_spans([_readable_span(attributes)]).SerializeToString()
    (record,) = decode_traces(body, "protobuf").spans
    assert record.attributes == {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "list": ["NaN"]}


def test_an_empty_protobuf_body_is_an_empty_request() -> None:
    assert decode_traces(b"", "protobuf") == TracesBatch()
    assert decode_logs(b"", "protobuf") == LogsBatch()


# --------------------------------------------------------------------------- protobuf: partial success


def _mutated(body: bytes, mutate: Callable[[Any], None], index: int = 0) -> bytes:
    request = _protobuf_request(body)
    spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    mutate(spans[index])
    return request.SerializeToString()


def _set(attribute: str, value: Any) -> Callable[[Any], None]:
    def mutate(message: Any) -> None:
        setattr(message, attribute, value)

    return mutate


def _end_before_start(span: Any) -> None:
    span.end_time_unix_nano = span.start_time_unix_nano - 1


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(_set("trace_id", b"\x01" * 15), "trace_id must be 16 bytes, got 15", id="short trace id"),
        pytest.param(_set("trace_id", b""), "trace_id must be 16 bytes, got 0", id="missing trace id"),
        pytest.param(_set("trace_id", bytes(16)), "trace_id must not be all zeros", id="zero trace id"),
        pytest.param(_set("span_id", b"\x01" * 9), "span_id must be 8 bytes, got 9", id="long span id"),
        pytest.param(_set("span_id", bytes(8)), "span_id must not be all zeros", id="zero span id"),
        pytest.param(
            _set("parent_span_id", b"\x01" * 4),
            "parent_span_id must be empty or 8 bytes, got 4",
            id="short parent",
        ),
        pytest.param(_end_before_start, "is before start time", id="end before start"),
    ],
)
def test_it_rejects_only_the_invalid_span_and_keeps_the_others(
    sdk_body: bytes, mutate: Callable[[Any], None], reason: str
) -> None:
    batch = decode_traces(_mutated(sdk_body, mutate), "protobuf")
    assert batch.rejected == 1
    assert len(batch.spans) == 2
    assert len(batch.errors) == 1
    assert batch.errors[0].startswith("resourceSpans[")
    assert reason in batch.errors[0]


def test_it_rejects_an_all_zero_trace_id(sdk_body: bytes) -> None:
    batch = decode_traces(_mutated(sdk_body, _set("trace_id", bytes(16))), "protobuf")
    assert batch.rejected == 1
    assert all(span.trace_id != "0" * 32 for span in batch.spans)


def test_it_reads_an_all_zero_parent_span_id_as_a_root_span(sdk_body: bytes) -> None:
    request = _protobuf_request(sdk_body)
    request.resource_spans[0].scope_spans[0].spans[0].parent_span_id = bytes(8)
    batch = decode_traces(request.SerializeToString(), "protobuf")
    assert batch.rejected == 0
    assert batch.spans[0].parent_span_id == ""


def test_it_accepts_a_span_that_starts_and_ends_at_the_same_instant(sdk_body: bytes) -> None:
    def same_instant(span: Any) -> None:
        span.end_time_unix_nano = span.start_time_unix_nano

    batch = decode_traces(_mutated(sdk_body, same_instant), "protobuf")
    assert batch.rejected == 0


def test_it_drops_a_link_with_malformed_ids_but_keeps_its_span(sdk_body: bytes) -> None:
    request = _protobuf_request(sdk_body)
    span = next(s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans if s.links)
    span.links.add(trace_id=b"\x01" * 3, span_id=b"\x02" * 8)
    span.links.add(trace_id=b"\x01" * 16, span_id=bytes(8))
    span.dropped_links_count = 1
    batch = decode_traces(request.SerializeToString(), "protobuf")
    (record,) = (s for s in batch.spans if s.name == "SELECT orders")
    assert batch.rejected == 0
    assert [link["span_id"] for link in record.links] == [_hex_span(LINKED_SPAN_ID)]
    assert record.dropped_links_count == 3


def test_it_reports_enum_values_it_does_not_know_as_unspecified(sdk_body: bytes) -> None:
    request = _protobuf_request(sdk_body)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.kind = 9  # type: ignore[assignment]
    span.status.code = 7  # type: ignore[assignment]
    (record, *_) = decode_traces(request.SerializeToString(), "protobuf").spans
    assert (record.kind, record.status_code) == (0, 0)


def test_it_counts_every_rejection_but_keeps_a_bounded_number_of_messages() -> None:
    bad = [
        _readable_span({}, context=SpanContext(REMOTE_TRACE_ID, n + 1, is_remote=False), start_time=2, end_time=1)
        for n in range(MAX_ERROR_MESSAGES + 50)
    ]
    good = _readable_span({"kept": True})
    batch = decode_traces(encode_spans([*bad, good]).SerializeToString(), "protobuf")
    assert batch.rejected == MAX_ERROR_MESSAGES + 50
    assert len(batch.errors) == MAX_ERROR_MESSAGES
    assert [span.attributes for span in batch.spans] == [{"kept": True}]


def test_the_error_message_summarises_the_first_rejections() -> None:
    batch = TracesBatch(rejected=4, errors=["first", "second", "third", "fourth"])
    assert batch.error_message(limit=2) == "4 spans rejected: first; second; and 2 more"
    assert TracesBatch(rejected=1, errors=["only"]).error_message() == "1 span rejected: only"
    assert TracesBatch().error_message() == ""
    assert LogsBatch(rejected=2, errors=["a", "b"]).error_message() == "2 log records rejected: a; b"


# --------------------------------------------------------------------------- protobuf: malformed


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xff\xff", id="garbage"),
        pytest.param(b"this is not protobuf", id="text"),
        pytest.param(b'{"resourceSpans": []}', id="json sent as protobuf"),
        pytest.param(b"\x0a\x10\x0a", id="truncated"),
        pytest.param(b"\x0a\x08\x0a\x06\x0a\x04\x0a\x02\xff\xfe", id="invalid utf-8 in a string"),
    ],
)
def test_it_raises_for_a_body_that_is_not_a_protobuf_request(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="not a valid ExportTraceServiceRequest"):
        decode_traces(body, "protobuf")
    with pytest.raises(OtlpDecodeError, match="not a valid ExportLogsServiceRequest"):
        decode_logs(body, "protobuf")


def test_it_raises_for_a_truncated_sdk_request(sdk_body: bytes) -> None:
    with pytest.raises(OtlpDecodeError):
        decode_traces(sdk_body[:-7], "protobuf")


def test_decode_errors_are_value_errors() -> None:
    assert issubclass(OtlpDecodeError, ValueError)


def test_it_refuses_an_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="unsupported OTLP encoding"):
        decode_traces(b"", "xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported OTLP encoding"):
        decode_logs(b"", "xml")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- JSON

ID_FIELDS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


def _hex_ids_to_base64(value: Any) -> Any:
    """Turn an OTLP JSON document into plain proto3 JSON, whose bytes are base64."""
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode()
            if key in ID_FIELDS and isinstance(item, str)
            else _hex_ids_to_base64(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids_to_base64(item) for item in value]
    return value


def _via_protobuf_parser(document: dict[str, Any], message: Message) -> bytes:
    """Decode OTLP JSON with protobuf's own JSON parser, as an independent reference."""
    json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    return message.SerializeToString()


def _otlp_json_from_proto(message: Message, *, snake_case: bool = False) -> bytes:
    """Protobuf's JSON printer plus the OTLP deviation: ids in hex."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True, preserving_proto_field_name=snake_case)

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: base64.b64decode(item).hex().upper() if key in ID_FIELDS else fix(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [fix(item) for item in value]
        return value

    return orjson.dumps(fix(document))


def _kv(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


TRACES_JSON: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [
                    _kv("service.name", {"stringValue": "cart"}),
                    _kv("host.cpus", {"intValue": "8"}),
                ],
                "droppedAttributesCount": 0,
            },
            "scopeSpans": [
                {
                    "scope": {"name": "cart.http", "version": "3.1"},
                    "spans": [
                        {
                            # Hex ids are case-insensitive in OTLP JSON.
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "",
                            "traceState": "congo=t61rcWkgMzE",
                            "name": "POST /cart",
                            "kind": 2,
                            # int64/fixed64 fields: as a string here, as a number below.
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": 1544712661000000000,
                            "attributes": [
                                _kv("string", {"stringValue": "text"}),
                                _kv("int as string", {"intValue": "-9223372036854775808"}),
                                _kv("int as number", {"intValue": 42}),
                                _kv("bool", {"boolValue": True}),
                                _kv("double", {"doubleValue": 2.5}),
                                _kv("double as string", {"doubleValue": "0.5"}),
                                _kv("integral double", {"doubleValue": 3}),
                                _kv("bytes", {"bytesValue": "AAH/"}),
                                _kv(
                                    "array",
                                    {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {}]}},
                                ),
                                _kv(
                                    "map",
                                    {
                                        "kvlistValue": {
                                            "values": [
                                                _kv("nested", {"kvlistValue": {"values": []}}),
                                                _kv("list", {"arrayValue": {}}),
                                            ]
                                        }
                                    },
                                ),
                                _kv("empty", {}),
                            ],
                            "droppedAttributesCount": 1,
                            "events": [
                                {
                                    "timeUnixNano": "1544712660500000000",
                                    "name": "item.added",
                                    "attributes": [_kv("sku", {"stringValue": "X1"})],
                                    "droppedAttributesCount": 0,
                                }
                            ],
                            "droppedEventsCount": 2,
                            "links": [
                                {
                                    "traceId": "0af7651916cd43dd8448eb211c80319c",
                                    "spanId": "b7ad6b7169203331",
                                    "traceState": "rojo=00f067aa0ba902b7",
                                    "attributes": [_kv("link.reason", {"stringValue": "retry"})],
                                    "flags": 257,
                                }
                            ],
                            "status": {"code": 2, "message": "payment declined"},
                            "flags": 1,
                            # Unknown fields must be ignored, at every level.
                            "someFutureField": {"anything": [1, 2, 3]},
                        },
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "1111111111111111",
                            "parentSpanId": "eee19b7ec3c1b174",
                            "name": "SELECT cart",
                            "kind": 3,
                            "startTimeUnixNano": 1544712660100000000,
                            "endTimeUnixNano": "1544712660200000000",
                            "status": {},
                        },
                    ],
                    "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                    "unknownScopeSpansField": True,
                }
            ],
        },
        {
            "resource": {},
            "scopeSpans": [{"spans": [{"traceId": "01" * 16, "spanId": "02" * 8, "name": "bare"}]}],
        },
    ],
    "unknownTopLevelField": "ignored",
}


def _json_body(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def test_it_decodes_hand_written_otlp_json() -> None:
    batch = decode_traces(_json_body(TRACES_JSON), "json")
    assert (batch.rejected, batch.errors) == (0, [])
    cart, select, bare = batch.spans
    assert cart == SpanRecord(
        trace_id="5b8efff798038103d269b633813fc60c",
        span_id="eee19b7ec3c1b174",
        parent_span_id="",
        trace_state="congo=t61rcWkgMzE",
        name="POST /cart",
        kind=2,
        service="cart",
        start_ns=1544712660000000000,
        end_ns=1544712661000000000,
        status_code=2,
        status_message="payment declined",
        attributes={
            "string": "text",
            "int as string": -(2**63),
            "int as number": 42,
            "bool": True,
            "double": 2.5,
            "double as string": 0.5,
            "integral double": 3.0,
            "bytes": "AAH/",
            "array": ["a", 1, None],
            "map": {"nested": {}, "list": []},
            "empty": None,
        },
        resource={"service.name": "cart", "host.cpus": 8},
        scope="cart.http",
        scope_version="3.1",
        events=[{"name": "item.added", "time_ns": 1544712660500000000, "attributes": {"sku": "X1"}}],
        links=[
            {
                "trace_id": "0af7651916cd43dd8448eb211c80319c",
                "span_id": "b7ad6b7169203331",
                "trace_state": "rojo=00f067aa0ba902b7",
                "attributes": {"link.reason": "retry"},
            }
        ],
        dropped_attributes_count=1,
        dropped_events_count=2,
        dropped_links_count=0,
        flags=1,
    )
    assert (select.parent_span_id, select.kind, select.status_code) == ("eee19b7ec3c1b174", 3, 0)
    assert (select.start_ns, select.end_ns) == (1544712660100000000, 1544712660200000000)
    assert (bare.service, bare.scope, bare.resource, bare.start_ns) == ("unknown_service", "", {}, 0)


def test_json_decodes_to_the_same_records_as_protobuf_parsed_by_the_reference_parser() -> None:
    protobuf_body = _via_protobuf_parser(copy.deepcopy(TRACES_JSON), ExportTraceServiceRequest())
    assert decode_traces(_json_body(TRACES_JSON), "json") == decode_traces(protobuf_body, "protobuf")


@pytest.mark.parametrize("snake_case", [False, True], ids=["lowerCamelCase", "original field names"])
def test_json_of_an_sdk_request_decodes_like_its_protobuf(sdk_spans: list[ReadableSpan], snake_case: bool) -> None:
    request = encode_spans(sdk_spans)
    json_body = _otlp_json_from_proto(request, snake_case=snake_case)
    assert decode_traces(json_body, "json") == decode_traces(request.SerializeToString(), "protobuf")


def test_json_accepts_int64_fields_as_strings_and_as_numbers() -> None:
    def span(start: Any, end: Any, value: Any) -> dict[str, Any]:
        return {
            "traceId": "01" * 16,
            "spanId": "02" * 8,
            "startTimeUnixNano": start,
            "endTimeUnixNano": end,
            "attributes": [_kv("n", {"intValue": value})],
        }

    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            span("9223372036854775807", "9223372036854775807", "9223372036854775807"),
                            span(9223372036854775807, 9223372036854775807, 9223372036854775807),
                            span(1.0e9, 2e9, -1.0),
                        ]
                    }
                ]
            }
        ]
    }
    spans = decode_traces(_json_body(document), "json").spans
    assert [(s.start_ns, s.end_ns, s.attributes["n"]) for s in spans] == [
        (2**63 - 1, 2**63 - 1, 2**63 - 1),
        (2**63 - 1, 2**63 - 1, 2**63 - 1),
        (10**9, 2 * 10**9, -1),
    ]
    # uint64 on the wire, but a time past 2**63 - 1 ns (in 2262) cannot be stored: that span is refused.
    document["resourceSpans"][0]["scopeSpans"][0]["spans"].append(span(str(2**64 - 1), str(2**64 - 1), "1"))
    batch = decode_traces(_json_body(document), "json")
    assert (len(batch.spans), batch.rejected) == (3, 1)
    assert "latest time that can be stored" in batch.errors[0]


def test_json_accepts_the_original_snake_case_field_names() -> None:
    document = {
        "resource_spans": [
            {
                "resource": {"attributes": [_kv("service.name", {"string_value": "snake"})]},
                "scope_spans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "trace_id": "01" * 16,
                                "span_id": "02" * 8,
                                "parent_span_id": "03" * 8,
                                "start_time_unix_nano": "1",
                                "end_time_unix_nano": "2",
                                "attributes": [_kv("k", {"kvlist_value": {"values": [_kv("n", {"int_value": "1"})]}})],
                                "dropped_attributes_count": 3,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (span,) = decode_traces(_json_body(document), "json").spans
    assert (span.service, span.parent_span_id, span.start_ns, span.end_ns) == ("snake", "03" * 8, 1, 2)
    assert span.attributes == {"k": {"n": 1}}
    assert span.dropped_attributes_count == 3


def test_json_prefers_the_lower_camel_case_name_when_both_are_present() -> None:
    span = {"traceId": "01" * 16, "trace_id": "09" * 16, "spanId": "02" * 8, "name": "both"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    (record,) = decode_traces(_json_body(document), "json").spans
    assert record.trace_id == "01" * 16


def test_json_treats_null_as_an_absent_field() -> None:
    span = {
        "traceId": "01" * 16,
        "spanId": "02" * 8,
        "parentSpanId": None,
        "name": None,
        "attributes": None,
        "status": None,
        "events": None,
    }
    document = {"resourceSpans": [{"resource": None, "scopeSpans": [{"scope": None, "spans": [span]}]}]}
    (record,) = decode_traces(_json_body(document), "json").spans
    assert (record.parent_span_id, record.name, record.attributes, record.events) == ("", "", {}, [])


def test_json_accepts_enum_names_as_proto3_json_readers_do() -> None:
    span = {"traceId": "01" * 16, "spanId": "02" * 8, "kind": "SPAN_KIND_PRODUCER", "status": {"code": "2"}}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    (record,) = decode_traces(_json_body(document), "json").spans
    assert (record.kind, record.status_code) == (4, 2)


def test_json_reads_non_finite_doubles_and_all_base64_alphabets() -> None:
    attributes = [
        _kv("nan", {"doubleValue": "NaN"}),
        _kv("inf", {"doubleValue": "Infinity"}),
        _kv("-inf", {"doubleValue": "-Infinity"}),
        _kv("url-safe", {"bytesValue": "AAH_-w"}),
        _kv("standard", {"bytesValue": "AAH/+w=="}),
    ]
    span = {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": attributes}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    (record,) = decode_traces(_json_body(document), "json").spans
    assert record.attributes == {
        "nan": "NaN",
        "inf": "Infinity",
        "-inf": "-Infinity",
        "url-safe": "AAH/+w==",
        "standard": "AAH/+w==",
    }


def _json_spans_document(*spans: dict[str, Any]) -> bytes:
    return _json_body({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]})


GOOD_SPAN: dict[str, Any] = {"traceId": "01" * 16, "spanId": "02" * 8, "name": "good"}


@pytest.mark.parametrize(
    ("bad_span", "reason"),
    [
        pytest.param({"spanId": "02" * 8}, "trace_id must be 16 bytes, got 0", id="missing trace id"),
        pytest.param({"traceId": "00" * 16, "spanId": "02" * 8}, "must not be all zeros", id="zero trace id"),
        pytest.param({"traceId": "01" * 16, "spanId": "00" * 8}, "span_id must not be all zeros", id="zero span id"),
        pytest.param({"traceId": "01" * 15, "spanId": "02" * 8}, "16 bytes, got 15", id="short trace id"),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "parentSpanId": "03" * 7},
            "parent_span_id must be empty or 8 bytes",
            id="short parent",
        ),
        pytest.param(
            {"traceId": "AQEBAQEBAQEBAQEBAQEBAQ==", "spanId": "02" * 8},
            "not base64",
            id="base64 trace id",
        ),
        pytest.param({"traceId": "01" * 16, "spanId": "0g" * 8}, "must be a hex string", id="non-hex span id"),
        pytest.param({"traceId": "012", "spanId": "02" * 8}, "must be a hex string", id="odd-length id"),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "startTimeUnixNano": "2", "endTimeUnixNano": "1"},
            "end time 1 is before start time 2",
            id="end before start",
        ),
        pytest.param({"traceId": "01" * 16, "spanId": "02" * 8, "name": 5}, ".name must be a string", id="name"),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "startTimeUnixNano": "soon"},
            "startTimeUnixNano must be an integer",
            id="time not a number",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "startTimeUnixNano": "-1"},
            "out of range",
            id="negative time",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": [_kv("n", {"intValue": "1.5"})]},
            "attributes[0].value.intValue must be an integer",
            id="fractional int",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": [_kv("n", {"intValue": str(2**63)})]},
            "out of range",
            id="int64 overflow",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": {"k": "v"}},
            "attributes must be a JSON array",
            id="attributes as an object",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": [_kv("b", {"boolValue": "true"})]},
            "must be true or false",
            id="bool as string",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": [_kv("b", {"bytesValue": "!!"})]},
            "must be base64",
            id="bad base64",
        ),
        pytest.param(
            {"traceId": "01" * 16, "spanId": "02" * 8, "kind": "SERVER"},
            "kind must be an integer",
            id="unknown enum name",
        ),
        pytest.param(["not", "an", "object"], "must be a JSON object", id="span not an object"),
    ],
)
def test_json_rejects_only_the_span_with_bad_data(bad_span: Any, reason: str) -> None:
    batch = decode_traces(_json_spans_document(GOOD_SPAN, bad_span, GOOD_SPAN), "json")
    assert [span.name for span in batch.spans] == ["good", "good"]
    assert batch.rejected == 1
    (error,) = batch.errors
    assert error.startswith("resourceSpans[0].scopeSpans[0].spans[1]")
    assert reason in error


def test_json_drops_a_link_with_a_malformed_id_but_keeps_its_span() -> None:
    span = {
        **GOOD_SPAN,
        "droppedLinksCount": 1,
        "links": [{"traceId": "zz", "spanId": "02" * 8}, {"traceId": "0a" * 16, "spanId": "0b" * 8}],
    }
    (record,) = decode_traces(_json_spans_document(span), "json").spans
    assert [link["trace_id"] for link in record.links] == ["0a" * 16]
    assert record.dropped_links_count == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "not valid JSON", id="empty"),
        pytest.param(b"{", "not valid JSON", id="truncated"),
        pytest.param(b'{"resourceSpans": "\xff"}', "not valid JSON", id="invalid utf-8"),
        pytest.param(b"[]", "must be a JSON object", id="top-level array"),
        pytest.param(b'"resourceSpans"', "must be a JSON object", id="top-level string"),
        pytest.param(b'{"resourceSpans": {}}', "resourceSpans must be a JSON array", id="resourceSpans object"),
        pytest.param(b'{"resourceSpans": [1]}', "resourceSpans[0] must be a JSON object", id="resource entry"),
        pytest.param(
            b'{"resourceSpans": [{"scopeSpans": {}}]}',
            "resourceSpans[0].scopeSpans must be a JSON array",
            id="scopeSpans object",
        ),
        pytest.param(
            b'{"resourceSpans": [{"resource": {"attributes": {"k": "v"}}}]}',
            "resourceSpans[0].resource.attributes must be a JSON array",
            id="resource attributes object",
        ),
        pytest.param(
            b'{"resourceSpans": [{"scopeSpans": [{"scope": {"name": 1}}]}]}',
            "resourceSpans[0].scopeSpans[0].scope.name must be a string",
            id="scope name",
        ),
        pytest.param(
            b'{"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]}',
            "resourceSpans[0].scopeSpans[0].spans must be a JSON array",
            id="spans string",
        ),
    ],
)
def test_json_raises_for_a_malformed_request(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode_traces(body, "json")


def test_an_empty_json_object_is_an_empty_request() -> None:
    assert decode_traces(b"{}", "json") == TracesBatch()
    assert decode_logs(b'{"resourceLogs": []}', "json") == LogsBatch()


# --------------------------------------------------------------------------- logs


class _Logs:
    """A LoggerProvider whose records can be exported as a real OTLP request."""

    def __init__(self, resource: Resource | None = None) -> None:
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider(resource=resource or Resource.create({"service.name": "billing"}))
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.logger = self.provider.get_logger("billing.logs", "4.2")

    def emit(self, **fields: Any) -> None:
        self.logger.emit(LogRecord(**fields))

    def request(self) -> ExportLogsServiceRequest:
        return encode_logs(self.exporter.get_finished_logs())

    def body(self) -> bytes:
        return self.request().SerializeToString()


@pytest.fixture
def logs() -> Iterator[_Logs]:
    sink = _Logs()
    yield sink
    sink.provider.shutdown()


def test_it_decodes_sdk_log_records_with_their_trace_context(logs: _Logs) -> None:
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        logs.emit(
            body="charged card",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes={"order.id": 17},
            timestamp=1_700_000_000_000_000_001,
        )
        context = span.get_span_context()
    (record,) = decode_logs(logs.body(), "protobuf").records
    assert record.trace_id == _hex_trace(context.trace_id)
    assert record.span_id == _hex_span(context.span_id)
    assert record.flags & 0x01 == 1
    assert (record.severity_number, record.severity_text) == (13, "WARN")
    assert (record.body, record.attributes) == ("charged card", {"order.id": 17})
    assert record.time_ns == 1_700_000_000_000_000_001
    assert record.observed_ns > 0
    assert (record.service, record.scope, record.scope_version) == ("billing", "billing.logs", "4.2")
    assert record.resource["service.name"] == "billing"


def test_a_log_record_without_trace_context_has_empty_ids(logs: _Logs) -> None:
    logs.emit(body="no span here")
    (record,) = decode_logs(logs.body(), "protobuf").records
    assert (record.trace_id, record.span_id, record.flags) == ("", "", 0)


def test_it_reads_the_event_name_field(logs: _Logs) -> None:
    logs.emit(body={"amount": 5}, event_name="payment.captured")
    (record,) = decode_logs(logs.body(), "protobuf").records
    assert record.event_name == "payment.captured"


def test_it_falls_back_to_the_event_name_attribute(logs: _Logs) -> None:
    logs.emit(body="legacy", attributes={"event.name": "payment.refunded"})
    (record,) = decode_logs(logs.body(), "protobuf").records
    assert record.event_name == "payment.refunded"


def test_the_event_name_field_wins_over_the_attribute(logs: _Logs) -> None:
    logs.emit(body="both", event_name="from.field", attributes={"event.name": "from.attribute"})
    (record,) = decode_logs(logs.body(), "protobuf").records
    assert record.event_name == "from.field"


def test_a_plain_log_record_has_no_event_name(logs: _Logs) -> None:
    logs.emit(body="plain", attributes={"event.name": 5})
    (record,) = decode_logs(logs.body(), "protobuf").records
    assert record.event_name == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("text", "text", id="string"),
        pytest.param(7, 7, id="int"),
        pytest.param(0.5, 0.5, id="double"),
        pytest.param(True, True, id="bool"),
        pytest.param(b"\x00\x01\xfe", "AAH+", id="bytes"),
        pytest.param([1, "a", None, [False]], [1, "a", None, [False]], id="array"),
        pytest.param({"a": {"b": [1.5]}, "c": b"\x01"}, {"a": {"b": [1.5]}, "c": "AQ=="}, id="map"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_it_decodes_a_log_body_of_each_type(logs: _Logs, body: Any, expected: Any) -> None:
    logs.emit(body=body)
    request = logs.request()
    (record,) = decode_logs(request.SerializeToString(), "protobuf").records
    assert record.body == expected
    (from_json,) = decode_logs(_otlp_json_from_proto(request), "json").records
    assert from_json.body == expected


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        pytest.param("trace_id", b"\x01" * 8, "trace_id must be empty or 16 bytes, got 8", id="short trace id"),
        pytest.param("span_id", b"\x01" * 16, "span_id must be empty or 8 bytes, got 16", id="long span id"),
    ],
)
def test_it_rejects_a_log_record_with_a_wrong_length_id(logs: _Logs, field: str, value: bytes, reason: str) -> None:
    logs.emit(body="first")
    logs.emit(body="second")
    request = logs.request()
    setattr(request.resource_logs[0].scope_logs[0].log_records[1], field, value)
    batch = decode_logs(request.SerializeToString(), "protobuf")
    assert [record.body for record in batch.records] == ["first"]
    assert batch.rejected == 1
    assert batch.errors == [f"resourceLogs[0].scopeLogs[0].logRecords[1]: {reason}"]


def test_it_reads_all_zero_log_ids_as_absent(logs: _Logs) -> None:
    logs.emit(body="zeros")
    request = logs.request()
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    record.trace_id, record.span_id = bytes(16), bytes(8)
    (decoded_record,) = decode_logs(request.SerializeToString(), "protobuf").records
    assert (decoded_record.trace_id, decoded_record.span_id) == ("", "")


LOGS_JSON: dict[str, Any] = {
    "resourceLogs": [
        {
            "resource": {"attributes": [_kv("service.name", {"stringValue": "billing"})]},
            "scopeLogs": [
                {
                    "scope": {"name": "billing.events", "version": "1"},
                    "logRecords": [
                        {
                            "timeUnixNano": "1544712660300000000",
                            "observedTimeUnixNano": 1544712660300000001,
                            "severityNumber": 10,
                            "severityText": "Information",
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "eventName": "invoice.sent",
                            "body": {"kvlistValue": {"values": [_kv("invoice", {"intValue": "12"})]}},
                            "attributes": [_kv("event.name", {"stringValue": "ignored.attribute"})],
                            "flags": 1,
                            "unknownField": 1,
                        },
                        {
                            "timeUnixNano": 1544712660400000000,
                            "body": {"stringValue": "legacy"},
                            "attributes": [_kv("event.name", {"stringValue": "invoice.legacy"})],
                        },
                        {"body": {"arrayValue": {"values": [{"boolValue": False}, {"doubleValue": 1.5}]}}},
                        {"traceId": "01" * 8, "body": {"stringValue": "rejected: short trace id"}},
                    ],
                }
            ],
        }
    ]
}


def test_it_decodes_hand_written_otlp_json_logs() -> None:
    batch = decode_logs(_json_body(LOGS_JSON), "json")
    first, legacy, array = batch.records
    assert (first.trace_id, first.span_id) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert (first.time_ns, first.observed_ns) == (1544712660300000000, 1544712660300000001)
    assert (first.severity_number, first.severity_text, first.flags) == (10, "Information", 1)
    assert (first.event_name, first.body) == ("invoice.sent", {"invoice": 12})
    assert (first.service, first.scope, first.scope_version) == ("billing", "billing.events", "1")
    assert (legacy.event_name, legacy.body, legacy.trace_id) == ("invoice.legacy", "legacy", "")
    assert array.body == [False, 1.5]
    assert batch.rejected == 1
    assert batch.errors == ["resourceLogs[0].scopeLogs[0].logRecords[3]: trace_id must be empty or 16 bytes, got 8"]


def test_json_logs_decode_to_the_same_records_as_protobuf_parsed_by_the_reference_parser() -> None:
    protobuf_body = _via_protobuf_parser(copy.deepcopy(LOGS_JSON), ExportLogsServiceRequest())
    assert decode_logs(_json_body(LOGS_JSON), "json") == decode_logs(protobuf_body, "protobuf")


def test_json_logs_raise_for_a_malformed_envelope() -> None:
    with pytest.raises(OtlpDecodeError, match=r"resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords must be"):
        decode_logs(b'{"resourceLogs": [{"scopeLogs": [{"logRecords": {}}]}]}', "json")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def _as_json_compatible(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_as_json_compatible(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_json_compatible(item) for key, item in value.items()}
    return value


@settings(max_examples=60, deadline=None)
@given(body=json_values)
def test_any_body_the_sdk_can_encode_decodes_to_its_json_compatible_form(body: Any) -> None:
    sink = _Logs()
    try:
        sink.emit(body=body)
        request = sink.request()
    finally:
        sink.provider.shutdown()
    (record,) = decode_logs(request.SerializeToString(), "protobuf").records
    assert record.body == _as_json_compatible(body)
    (from_json,) = decode_logs(_otlp_json_from_proto(request), "json").records
    assert from_json == record


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("signal", "response_type"),
    [("traces", ExportTraceServiceResponse), ("logs", ExportLogsServiceResponse)],
)
def test_a_full_success_response_leaves_partial_success_unset(signal: Any, response_type: type[Message]) -> None:
    protobuf_body = encode_export_response(signal, 0, "", "protobuf")
    response = response_type()
    response.ParseFromString(protobuf_body)
    assert not response.HasField("partial_success")
    assert encode_export_response(signal, 0, "", "json") == b"{}"


def test_a_partial_success_trace_response_round_trips_through_the_proto_classes() -> None:
    response = ExportTraceServiceResponse()
    response.ParseFromString(encode_export_response("traces", 3, "3 spans rejected", "protobuf"))
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == "3 spans rejected"

    json_body = encode_export_response("traces", 3, "3 spans rejected", "json")
    assert orjson.loads(json_body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "3 spans rejected"}}
    parsed = json_format.Parse(json_body, ExportTraceServiceResponse())
    assert (parsed.partial_success.rejected_spans, parsed.partial_success.error_message) == (
        3,
        "3 spans rejected",
    )


def test_a_partial_success_logs_response_round_trips_through_the_proto_classes() -> None:
    response = ExportLogsServiceResponse()
    response.ParseFromString(encode_export_response("logs", 2, "bad ids", "protobuf"))
    assert (response.partial_success.rejected_log_records, response.partial_success.error_message) == (
        2,
        "bad ids",
    )

    json_body = encode_export_response("logs", 2, "bad ids", "json")
    assert orjson.loads(json_body) == {"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "bad ids"}}
    parsed = json_format.Parse(json_body, ExportLogsServiceResponse())
    assert parsed.partial_success.rejected_log_records == 2


def test_a_warning_sets_partial_success_with_nothing_rejected() -> None:
    response = ExportTraceServiceResponse()
    response.ParseFromString(encode_export_response("traces", 0, "attributes truncated", "protobuf"))
    assert response.HasField("partial_success")
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (
        0,
        "attributes truncated",
    )
    assert orjson.loads(encode_export_response("traces", 0, "attributes truncated", "json")) == {
        "partialSuccess": {"errorMessage": "attributes truncated"}
    }


def test_a_rejection_without_a_message_still_sets_partial_success() -> None:
    response = ExportLogsServiceResponse()
    response.ParseFromString(encode_export_response("logs", 1, "", "protobuf"))
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_log_records == 1


def test_the_response_encoder_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_export_response("traces", -1, "", "json")
    with pytest.raises(ValueError, match="signal"):
        encode_export_response("metrics", 0, "", "json")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        encode_export_response("traces", 0, "", "yaml")  # type: ignore[arg-type]


def test_a_status_body_round_trips_through_google_rpc_status() -> None:
    status = status_pb2.Status()
    status.ParseFromString(encode_status(3, "request body is not valid JSON", "protobuf"))
    assert (status.code, status.message) == (3, "request body is not valid JSON")

    json_body = encode_status(3, "request body is not valid JSON", "json")
    assert orjson.loads(json_body) == {"code": 3, "message": "request body is not valid JSON"}
    parsed = json_format.Parse(json_body, status_pb2.Status())
    assert (parsed.code, parsed.message) == (3, "request body is not valid JSON")


def test_a_decode_error_message_fits_in_a_status_body() -> None:
    with pytest.raises(OtlpDecodeError) as caught:
        decode_traces(b"\xff", "protobuf")
    status = status_pb2.Status()
    status.ParseFromString(encode_status(otlp.GRPC_INVALID_ARGUMENT, str(caught.value), "protobuf"))
    assert status.message == str(caught.value)


@pytest.mark.parametrize(
    ("code", "message"),
    [(0, ""), (3, "bad"), (16, ""), (0, "only a message"), (-1, "negative"), (2**31 - 1, "é ✓ " * 50)],
)
def test_the_status_fallback_encoder_matches_the_generated_class(code: int, message: str) -> None:
    expected = status_pb2.Status(code=code, message=message).SerializeToString()
    assert otlp._encode_status_fallback(code, message) == expected


def test_the_status_encoder_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="int32"):
        encode_status(2**31, "", "json")
    with pytest.raises(ValueError, match="encoding"):
        encode_status(3, "", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/x-protobuf", "protobuf"),
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
        (" application/x-protobuf ;q=1", "protobuf"),
        ("application/protobuf", None),
        ("text/plain", None),
        ("", None),
        (None, None),
    ],
)
def test_it_maps_a_content_type_to_an_encoding(content_type: str | None, encoding: str | None) -> None:
    assert encoding_from_content_type(content_type) == encoding
