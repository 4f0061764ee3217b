"""CloudEvents 1.0 HTTP parsing, fed by the official CloudEvents Python SDK (cloudevents 2.x core API)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings.http import HTTPMessage
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1.conversion import to_binary as legacy_to_binary
from cloudevents.v1.http import CloudEvent as LegacyCloudEvent
from django.http.request import HttpHeaders
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dashboard.ingest.cloudevents_format import (
    CloudEventError,
    ParsedCloudEvent,
    detect_mode,
    parse_batch,
    parse_binary,
    parse_structured,
)

TIME = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def make_event(data: Any = None, **attributes: Any) -> CloudEvent:
    base = {"type": "com.example.order.placed", "source": "/orders", "id": "evt-1", "time": TIME}
    return CloudEvent({**base, **attributes}, data)


def structured(event: CloudEvent) -> HTTPMessage:
    return ce_http.to_structured_event(event)


def binary(event: CloudEvent) -> HTTPMessage:
    return ce_http.to_binary_event(event)


def structured_body(**members: Any) -> bytes:
    document = {"specversion": "1.0", "id": "evt-1", "source": "/orders", "type": "com.example.order.placed"}
    document.update(members)
    return orjson.dumps({name: value for name, value in document.items() if value is not _ABSENT})


_ABSENT: Any = object()


def binary_headers(**extra: str) -> dict[str, str]:
    headers = {"ce-specversion": "1.0", "ce-id": "evt-1", "ce-source": "/orders", "ce-type": "t"}
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


# --- structured mode -------------------------------------------------------------------------------


def test_structured_json_data_without_datacontenttype_is_the_json_value() -> None:
    message = structured(make_event({"order": 7, "items": ["a", "b"]}))

    parsed = parse_structured(message.body)

    assert parsed.data == {"order": 7, "items": ["a", "b"]}
    assert parsed.attributes == {
        "type": "com.example.order.placed",
        "source": "/orders",
        "id": "evt-1",
        "time": "2026-01-02T03:04:05.678000Z",
        "specversion": "1.0",
    }


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/vnd.order+json"]
)
def test_structured_json_data_with_a_json_datacontenttype_is_the_json_value(content_type: str) -> None:
    parsed = parse_structured(structured(make_event({"order": 7}, datacontenttype=content_type)).body)

    assert parsed.data == {"order": 7}
    assert parsed.attributes["datacontenttype"] == content_type


def test_structured_extensions_are_kept_as_attributes() -> None:
    event = make_event({"a": 1}, traceparent=TRACEPARENT, tracestate="rojo=00f067aa0ba902b7", idempotencykey="k-1")

    parsed = parse_structured(structured(event).body)

    assert parsed.attributes["traceparent"] == TRACEPARENT
    assert parsed.attributes["tracestate"] == "rojo=00f067aa0ba902b7"
    assert parsed.attributes["idempotencykey"] == "k-1"


def test_structured_optional_attributes_are_kept() -> None:
    event = make_event(None, subject="order/7", dataschema="https://schemas.example/order.json")

    parsed = parse_structured(structured(event).body)

    assert parsed.attributes["subject"] == "order/7"
    assert parsed.attributes["dataschema"] == "https://schemas.example/order.json"
    assert parsed.data is None


def test_structured_integer_and_boolean_extensions_keep_their_json_type() -> None:
    parsed = parse_structured(structured_body(sequence=42, replayed=True, negative=-(2**31)))

    assert parsed.attributes["sequence"] == 42
    assert parsed.attributes["replayed"] is True
    assert parsed.attributes["negative"] == -(2**31)


def test_structured_text_data_is_a_string() -> None:
    parsed = parse_structured(structured(make_event("héllo wörld", datacontenttype="text/plain")).body)

    assert parsed.data == "héllo wörld"


def test_structured_json_string_data_is_not_parsed_again() -> None:
    parsed = parse_structured(structured_body(data='{"a": 1}'))

    assert parsed.data == '{"a": 1}'


def test_structured_binary_data_that_is_not_utf8_stays_base64() -> None:
    message = structured(make_event(b"\x00\xff\xfe", datacontenttype="application/octet-stream"))
    assert b'"data_base64"' in message.body

    parsed = parse_structured(message.body)

    assert parsed.data == {"data_base64": base64.b64encode(b"\x00\xff\xfe").decode()}


def test_structured_binary_data_that_is_utf8_text_becomes_a_string() -> None:
    parsed = parse_structured(structured(make_event(b"plain bytes", datacontenttype="text/csv")).body)

    assert parsed.data == "plain bytes"


def test_structured_base64_data_declared_json_is_decoded_to_the_json_value() -> None:
    encoded = base64.b64encode(b'{"a": [1, 2]}').decode()

    parsed = parse_structured(structured_body(datacontenttype="application/json", data_base64=encoded))

    assert parsed.data == {"a": [1, 2]}


def test_null_attributes_are_treated_as_absent() -> None:
    parsed = parse_structured(structured_body(subject=None, time=None, unsetextension=None))

    assert "subject" not in parsed.attributes
    assert "time" not in parsed.attributes
    assert "unsetextension" not in parsed.attributes


def test_explicit_null_data_and_absent_data_are_both_none() -> None:
    assert parse_structured(structured_body(data=None)).data is None
    assert parse_structured(structured_body()).data is None


def test_long_attribute_names_are_accepted_since_the_limit_is_only_recommended() -> None:
    parsed = parse_structured(structured_body(averyveryverylongattributename="x"))

    assert parsed.attributes["averyveryverylongattributename"] == "x"


@pytest.mark.parametrize(
    "time",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02t03:04:05z",
        "2026-01-02T03:04:05.123456789+05:30",
        "2026-01-02T03:04:05-00:00",
        "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00Z",
    ],
)
def test_rfc3339_times_are_accepted_as_sent(time: str) -> None:
    assert parse_structured(structured_body(time=time)).attributes["time"] == time


# --- binary mode -----------------------------------------------------------------------------------


def test_binary_json_data_without_datacontenttype_is_parsed_as_json() -> None:
    message = binary(make_event({"order": 7}))
    # The SDK sends no Content-Type at all in this case.
    assert "content-type" not in {name.lower() for name in message.headers}

    parsed = parse_binary(message.headers, message.body)

    assert parsed.data == {"order": 7}
    assert "datacontenttype" not in parsed.attributes


def test_binary_text_data_without_datacontenttype_is_a_string() -> None:
    message = binary(make_event("just words"))

    assert parse_binary(message.headers, message.body).data == "just words"


def test_binary_datacontenttype_comes_from_content_type() -> None:
    message = binary(make_event("a,b\n1,2\n", datacontenttype="text/csv; charset=utf-8"))

    parsed = parse_binary(message.headers, message.body)

    assert parsed.attributes["datacontenttype"] == "text/csv; charset=utf-8"
    assert parsed.data == "a,b\n1,2\n"


def test_binary_non_utf8_body_stays_base64() -> None:
    message = binary(make_event(b"\x89PNG\r\n\x1a\n\xff", datacontenttype="image/png"))

    parsed = parse_binary(message.headers, message.body)

    assert parsed.data == {"data_base64": base64.b64encode(b"\x89PNG\r\n\x1a\n\xff").decode()}


def test_binary_empty_body_means_no_data() -> None:
    message = binary(make_event(None))

    assert parse_binary(message.headers, message.body).data is None


def test_binary_extensions_and_time_are_attributes() -> None:
    event = make_event({"a": 1}, traceparent=TRACEPARENT, idempotencykey="order-7", subject="order/7")
    message = binary(event)

    parsed = parse_binary(message.headers, message.body)

    assert parsed.attributes == {
        "type": "com.example.order.placed",
        "source": "/orders",
        "id": "evt-1",
        "time": "2026-01-02T03:04:05.678000Z",
        "traceparent": TRACEPARENT,
        "idempotencykey": "order-7",
        "subject": "order/7",
        "specversion": "1.0",
    }


@pytest.mark.parametrize("value", ['k 1%"é€😀', "100%", "a+b", "semi;colon,comma", "  padded  "])
def test_binary_header_values_are_percent_decoded(value: str) -> None:
    message = binary(make_event({"a": 1}, idempotencykey=value))

    assert parse_binary(message.headers, message.body).attributes["idempotencykey"] == value


def test_binary_percent_escapes_may_be_lowercase_or_unnecessary() -> None:
    headers = binary_headers(ce_subject="caf%c3%a9%2F%41")

    assert parse_binary(headers, b"").attributes["subject"] == "café/A"


def test_binary_quoted_string_header_values_are_unquoted() -> None:
    headers = binary_headers(ce_subject='"say \\"hi\\" now"')

    assert parse_binary(headers, b"").attributes["subject"] == 'say "hi" now'


def test_binary_raw_utf8_decoded_as_latin1_by_the_server_is_recovered() -> None:
    headers = binary_headers(ce_subject="café".encode().decode("latin-1"))

    assert parse_binary(headers, b"").attributes["subject"] == "café"


def test_binary_a_stray_percent_sign_is_kept_literally() -> None:
    headers = binary_headers(ce_subject="100%")

    assert parse_binary(headers, b"").attributes["subject"] == "100%"


def test_binary_header_names_are_case_insensitive() -> None:
    headers = {
        "CE-SpecVersion": "1.0",
        "Ce-Id": "evt-1",
        "ce-SOURCE": "/orders",
        "CE-TYPE": "t",
        "Content-Type": "text/plain",
    }

    parsed = parse_binary(headers, b"hi")

    assert parsed.attributes == {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/orders",
        "type": "t",
        "datacontenttype": "text/plain",
    }


def test_binary_django_request_headers_are_accepted() -> None:
    message = binary(make_event({"order": 7}, datacontenttype="application/json", idempotencykey="k 1"))
    meta = {"CONTENT_TYPE": message.headers["content-type"], "CONTENT_LENGTH": str(len(message.body))}
    for name, value in message.headers.items():
        if name.lower() != "content-type":
            meta["HTTP_" + name.upper().replace("-", "_")] = value

    parsed = parse_binary(HttpHeaders(meta), message.body)

    assert parsed.attributes["idempotencykey"] == "k 1"
    assert parsed.data == {"order": 7}


def test_binary_events_from_the_legacy_sdk_api_are_accepted() -> None:
    # The 1.x API does not percent-encode header values and writes "+00:00" offsets.
    event = LegacyCloudEvent({"type": "t", "source": "/s", "idempotencykey": "k 1"}, {"a": 1})
    headers, body = legacy_to_binary(event)

    parsed = parse_binary(headers, body)

    assert parsed.attributes["idempotencykey"] == "k 1"
    assert parsed.attributes["time"].endswith("+00:00")
    assert parsed.data == {"a": 1}


# --- both modes agree ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(make_event({"order": 7}), id="json-implicit"),
        pytest.param(make_event({"l": [1, "two", None]}, datacontenttype="application/json"), id="json-explicit"),
        pytest.param(make_event("héllo", datacontenttype="text/plain"), id="text"),
        pytest.param(make_event(b"\x00\xff", datacontenttype="application/octet-stream"), id="binary"),
        pytest.param(make_event(b"utf8 bytes", datacontenttype="application/octet-stream"), id="utf8-bytes"),
        pytest.param(make_event(None, traceparent=TRACEPARENT, idempotencykey="k 1"), id="no-data"),
    ],
)
def test_structured_and_binary_modes_give_the_same_event(event: CloudEvent) -> None:
    from_structured = parse_structured(structured(event).body)
    message = binary(event)
    from_binary = parse_binary(message.headers, message.body)

    assert from_structured == from_binary


@settings(max_examples=60, deadline=None)
@given(
    value=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
        min_size=1,
    ),
    data=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
        max_leaves=8,
    ),
)
def test_any_sdk_event_round_trips_through_both_modes(value: str, data: Any) -> None:
    # Unicode noncharacters are not valid attribute content.
    assume(not any(0xFDD0 <= ord(char) <= 0xFDEF or ord(char) & 0xFFFE == 0xFFFE for char in value))
    event = make_event({"payload": data}, subject=value, idempotencykey=value)
    message = binary(event)

    from_binary = parse_binary(message.headers, message.body)
    from_structured = parse_structured(structured(event).body)

    assert from_binary.attributes["subject"] == value
    assert from_binary.data == {"payload": data}
    assert from_binary == from_structured


# --- batches ---------------------------------------------------------------------------------------


def batch_body(*events: CloudEvent) -> bytes:
    return orjson.dumps([orjson.loads(structured(event).body) for event in events])


def test_a_batch_yields_one_parsed_event_per_entry_in_order() -> None:
    body = batch_body(make_event({"n": 1}, id="a"), make_event("two", id="b", datacontenttype="text/plain"))

    parsed = parse_batch(body)

    assert [item.attributes["id"] for item in parsed if isinstance(item, ParsedCloudEvent)] == ["a", "b"]
    assert [item.data for item in parsed if isinstance(item, ParsedCloudEvent)] == [{"n": 1}, "two"]


def test_invalid_batch_entries_are_reported_in_place_with_their_index() -> None:
    good = orjson.loads(structured(make_event({"n": 1})).body)
    body = orjson.dumps([good, {"specversion": "1.0", "id": "x", "source": "/s"}, 5, good])

    parsed = parse_batch(body)

    assert isinstance(parsed[0], ParsedCloudEvent)
    assert isinstance(parsed[3], ParsedCloudEvent)
    missing_type, not_an_object = parsed[1], parsed[2]
    assert isinstance(missing_type, CloudEventError)
    assert (missing_type.index, missing_type.attribute) == (1, "type")
    assert str(missing_type) == "batch entry 1: attribute 'type' is required"
    assert isinstance(not_an_object, CloudEventError)
    assert not_an_object.index == 2
    assert "JSON object" in str(not_an_object)


def test_an_empty_batch_is_valid() -> None:
    assert parse_batch(b"[]") == []


@pytest.mark.parametrize("body", [b'{"specversion": "1.0"}', b'"events"', b"null"])
def test_a_batch_that_is_not_an_array_is_refused(body: bytes) -> None:
    with pytest.raises(CloudEventError, match="JSON array"):
        parse_batch(body)


@pytest.mark.parametrize("parse", [parse_batch, parse_structured])
def test_a_body_that_is_not_json_is_refused(parse: Any) -> None:
    with pytest.raises(CloudEventError, match="not valid JSON"):
        parse(b"{not json")


# --- content mode detection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "headers", "expected"),
    [
        ("application/cloudevents+json", {}, "structured"),
        ("Application/CloudEvents+JSON; charset=UTF-8", {}, "structured"),
        ("application/cloudevents-batch+json", {}, "batch"),
        ("application/cloudevents-batch+json; charset=utf-8", {"ce-id": "x"}, "batch"),
        ("application/cloudevents+avro", {}, None),
        ("application/cloudevents-batch+avro", {}, None),
        ("application/json", {"ce-specversion": "1.0"}, "binary"),
        (None, {"Ce-Specversion": "1.0"}, "binary"),
        (None, {"Content-Type": "application/cloudevents+json"}, "structured"),
        (None, {"content-type": "application/cloudevents-batch+json"}, "batch"),
        ("application/json", {"Content-Type": "application/json"}, None),
        (None, {}, None),
        ("", {"X-Other": "1"}, None),
    ],
)
def test_the_content_mode_is_detected_from_content_type_and_headers(
    content_type: str | None, headers: dict[str, str], expected: str | None
) -> None:
    assert detect_mode(content_type, headers) == expected


def test_sdk_messages_are_detected_in_their_own_mode() -> None:
    event = make_event({"a": 1})
    structured_message, binary_message = structured(event), binary(event)

    assert detect_mode(None, structured_message.headers) == "structured"
    assert detect_mode(None, binary_message.headers) == "binary"


# --- invalid events --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "attribute", "fragment"),
    [
        ({"specversion": _ABSENT}, "specversion", "attribute 'specversion' is required"),
        ({"specversion": "0.3"}, "specversion", "attribute 'specversion' must be '1.0', got '0.3'"),
        ({"specversion": 1.0}, "specversion", "must be '1.0', got a number"),
        ({"id": _ABSENT}, "id", "attribute 'id' is required"),
        ({"id": None}, "id", "attribute 'id' is required"),
        ({"id": ""}, "id", "attribute 'id' must not be empty"),
        ({"id": 7}, "id", "attribute 'id' must be a string, got a number"),
        ({"source": _ABSENT}, "source", "attribute 'source' is required"),
        ({"source": ""}, "source", "attribute 'source' must not be empty"),
        ({"type": _ABSENT}, "type", "attribute 'type' is required"),
        ({"type": ["a"]}, "type", "attribute 'type' must be a string, got an array"),
        ({"subject": ""}, "subject", "attribute 'subject' must not be empty"),
        ({"subject": "two\nlines"}, "subject", "forbidden character U+000A"),
        ({"subject": "bell\x07"}, "subject", "forbidden character U+0007"),
        ({"subject": "nonchar\ufffe"}, "subject", "forbidden character U+FFFE"),
        ({"time": "yesterday"}, "time", "attribute 'time' must be an RFC 3339 timestamp"),
        ({"time": "2026-01-02"}, "time", "RFC 3339"),
        ({"time": "2026-01-02T03:04:05"}, "time", "RFC 3339"),
        ({"time": "2026-01-02 03:04:05Z"}, "time", "RFC 3339"),
        ({"time": "2026-13-02T03:04:05Z"}, "time", "RFC 3339"),
        ({"time": "2026-02-30T03:04:05Z"}, "time", "RFC 3339"),
        ({"time": "2026-01-02T24:00:00Z"}, "time", "RFC 3339"),
        ({"time": "2026-01-02T03:04:61Z"}, "time", "RFC 3339"),
        ({"time": "2026-01-02T03:04:05+24:00"}, "time", "RFC 3339"),
        ({"time": 1767323045}, "time", "attribute 'time' must be a string, got a number"),
        ({"datacontenttype": "json"}, "datacontenttype", "must be a media type"),
        ({"datacontenttype": ""}, "datacontenttype", "must not be empty"),
        ({"dataschema": "/schemas/order.json"}, "dataschema", "must be an absolute URI"),
        ({"dataschema": ""}, "dataschema", "must not be empty"),
        ({"traceParent": "x"}, "traceParent", "attribute 'traceParent': attribute names must consist of"),
        ({"trace_parent": "x"}, "trace_parent", "lowercase letters a-z and digits 0-9"),
        ({"trace-parent": "x"}, "trace-parent", "lowercase letters a-z and digits 0-9"),
        (
            {"ratio": 1.5},
            "ratio",
            "attribute 'ratio' must be a string, an integer or a boolean, got a number",
        ),
        ({"nested": {"a": 1}}, "nested", "must be a string, an integer or a boolean, got an object"),
        ({"big": 2**31}, "big", "outside the CloudEvents Integer range"),
        (
            {"data": {"a": 1}, "data_base64": "AAAA"},
            "data_base64",
            "must not have both 'data' and 'data_base64'",
        ),
        ({"data": None, "data_base64": "AAAA"}, "data_base64", "must not have both"),
        ({"data_base64": "not base64!"}, "data_base64", "'data_base64' is not valid base64"),
        ({"data_base64": 12}, "data_base64", "'data_base64' must be a base64 string"),
        (
            {"datacontenttype": "text/plain", "data": {"a": 1}},
            "data",
            "'data' must be a string because datacontenttype 'text/plain' is not a JSON media type",
        ),
        (
            {"datacontenttype": "application/json", "data_base64": base64.b64encode(b"{oops").decode()},
            "data",
            "not valid JSON although datacontenttype is 'application/json'",
        ),
    ],
)
def test_an_invalid_structured_event_is_refused_naming_the_attribute(
    members: dict[str, Any], attribute: str, fragment: str
) -> None:
    with pytest.raises(CloudEventError) as caught:
        parse_structured(structured_body(**members))

    assert caught.value.attribute == attribute
    assert caught.value.index is None
    assert fragment in str(caught.value)


@pytest.mark.parametrize("body", [b"[]", b'"event"', b"42"])
def test_a_structured_body_that_is_not_an_object_is_refused(body: bytes) -> None:
    with pytest.raises(CloudEventError, match="must be a JSON object"):
        parse_structured(body)


@pytest.mark.parametrize(
    ("headers", "body", "attribute", "fragment"),
    [
        ({"ce-specversion": _ABSENT}, b"", "specversion", "header 'ce-specversion' is required"),
        ({"ce-specversion": "0.3"}, b"", "specversion", "header 'ce-specversion' must be '1.0', got '0.3'"),
        ({"ce-id": _ABSENT}, b"", "id", "header 'ce-id' is required"),
        ({"ce-source": ""}, b"", "source", "header 'ce-source' must not be empty"),
        ({"ce-time": "2026-01-02T03:04:05"}, b"", "time", "header 'ce-time' must be an RFC 3339 timestamp"),
        (
            {"ce-subject": "%C0%A0"},
            b"",
            "subject",
            "header 'ce-subject': the percent-decoded value is not valid",
        ),
        ({"ce-subject": "%FF"}, b"", "subject", "not valid UTF-8"),
        ({"ce-subject": "%0A"}, b"", "subject", "forbidden character U+000A"),
        ({"ce-trace_parent": "x"}, b"", "trace_parent", "header 'ce-trace_parent': attribute names must"),
        ({"ce-data": "x"}, b"", "data", "'data' is a reserved name"),
        ({"ce-datacontenttype": "text/plain"}, b"", "datacontenttype", "the 'ce-datacontenttype' header"),
        (
            {"Content-Type": "notamediatype"},
            b"x",
            "datacontenttype",
            "header 'Content-Type' must be a media type",
        ),
        ({"Content-Type": "application/json"}, b"{oops", "data", "body is not valid JSON although"),
        ({"Content-Type": "application/vnd.order+json"}, b"nope", "data", "not valid JSON"),
    ],
)
def test_an_invalid_binary_event_is_refused_naming_the_attribute(
    headers: dict[str, Any], body: bytes, attribute: str, fragment: str
) -> None:
    merged = {**binary_headers(), **headers}
    merged = {name: value for name, value in merged.items() if value is not _ABSENT}

    with pytest.raises(CloudEventError) as caught:
        parse_binary(merged, body)

    assert caught.value.attribute == attribute
    assert fragment in str(caught.value)


def test_a_binary_header_repeated_with_another_case_is_refused() -> None:
    headers = {**binary_headers(), "CE-ID": "evt-2"}

    with pytest.raises(CloudEventError, match="repeated"):
        parse_binary(headers, b"")


def test_a_cloud_event_error_is_a_value_error() -> None:
    error = CloudEventError("attribute 'id' is required", attribute="id")

    assert isinstance(error, ValueError)
    assert error.at_index(3).index == 3
    assert str(error.at_index(3)) == "batch entry 3: attribute 'id' is required"
    assert error.at_index(3).reason == "attribute 'id' is required"
