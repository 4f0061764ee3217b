"""Input that used to reach the database or the runtime unchecked gets a clear 4xx (or, for
telemetry, a stored replacement), never a 500 — on SQLite and on PostgreSQL alike.

- numbers that ``str.isdigit`` accepts but ``int`` does not ("²"), or too long for a column;
- times that overflow when converted to UTC, or whose deadline falls past the year 9999;
- patterns nested a thousand levels deep;
- the character U+0000, which PostgreSQL stores in neither text nor jsonb.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dashboard.events.models import Event
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction
from dashboard.replay.delivery import parse_retry_after
from tracing.models import Span

pytestmark = pytest.mark.django_db

LONG_NUMBER = "9" * 5000
FULLWIDTH_LOCALHOST = "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:9000/"  # resolves to 127.0.0.1
ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def post_json(client: Client, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/transactions", {"limit": "²"}),
        ("/api/transactions", {"limit": LONG_NUMBER}),
        ("/api/transactions", {"cursor": "99999999999999999999"}),
        ("/api/transactions", {"cursor": "12\n"}),
        ("/api/transactions.csv", {"limit": "²"}),
        ("/api/transactions/funnel", {"cursor": "³"}),
        ("/api/transactions", {"since": "0001-01-01T00:00:00+01:00"}),
        ("/api/transactions", {"until": "9999-12-31T23:59:59-01:00"}),
        ("/api/events", {"limit": "²"}),
        ("/api/events", {"limit": LONG_NUMBER}),
        ("/api/events", {"pattern": json.dumps({"detail": {"ip": [{"cidr": "10.0.0.0/" + LONG_NUMBER}]}})}),
        ("/api/replays/{replay}/deliveries", {"limit": "²"}),
        ("/api/replays/{replay}/deliveries", {"cursor": "²"}),
        ("/api/replays/{replay}/deliveries", {"cursor": "99999999999999999999"}),
    ],
)
def test_odd_numbers_and_times_in_query_parameters_are_a_400(api: Client, path: str, params: dict[str, str]) -> None:
    from tests.support.replay_helpers import make_consumer, make_replay

    replay = make_replay([make_consumer("c", "http://127.0.0.1:9/")])
    response = api.get(path.format(replay=replay.pk), params)
    assert response.status_code == 400, response.content


def test_the_pages_take_odd_numbers_without_failing(ops: Client) -> None:
    assert ops.get("/transactions/", {"limit": "²"}).status_code == 400
    assert ops.get("/transactions/funnel", {"limit": LONG_NUMBER}).status_code == 400
    # A replay id that is no number, or too big for one, is a replay that does not exist: the page's
    # own not-found state, with the rest of the page still there.
    for odd in ("²", "99999999999999999999"):
        response = ops.get("/replays/", {"replay": odd})
        assert response.status_code == 404
        assert f"No replay {odd}" in response.content.decode()
    form = {**ORDER, "steps": "OrderCreated", "timeout_seconds": "²"}
    response = ops.post("/transactions/", form)
    assert response.status_code == 400
    assert "timeout_seconds&#x27; is required and must be a whole number" in response.content.decode()
    assert not Lifecycle.objects.exists()


def test_a_consumers_odd_retry_after_is_ignored() -> None:
    assert parse_retry_after("²") is None
    assert parse_retry_after(LONG_NUMBER) is None
    assert parse_retry_after("7") == 7.0


def test_an_event_time_that_overflows_in_utc_rejects_only_that_event(api: Client) -> None:
    events = [
        {"source": "shop", "detail-type": "OrderCreated", "time": "0001-01-01T00:00:00+01:00", "detail": {}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {}},
    ]
    answer = post_json(api, "/api/events", events).json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert "out of range" in answer["results"][0]["error"]


def test_an_event_dated_just_before_the_year_10000_is_tracked(api: Client) -> None:
    assert post_json(api, "/api/lifecycles", ORDER).status_code == 201
    event = {"source": "shop", "detail-type": "OrderCreated", "time": "9999-12-31T23:00:00Z"}
    event["detail"] = {"order-id": "o"}
    assert post_json(api, "/api/events", event).json()["accepted"] == 1
    fold_pending()
    record = Transaction.objects.get()
    assert record.deadline.year == 9999  # no deadline within the calendar: the latest there is
    assert api.get("/api/transactions").json()["results"][0]["status"] == "in_progress"


def test_a_pattern_nested_a_thousand_levels_is_a_400(api: Client) -> None:
    nested = '{"a":' * 1000 + '["x"]' + "}" * 1000  # as deep as a JSON parser takes
    body = json.dumps(ORDER)[:-1] + ', "pattern": ' + nested + "}"
    response = api.post("/api/lifecycles", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 32 levels" in response.json()["error"]["message"]
    assert api.get("/api/events", {"pattern": nested}).status_code == 400


def test_an_event_holding_nul_is_refused_and_the_rest_of_its_batch_stored(api: Client) -> None:
    events = [
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"note": "a\u0000b"}},
        {"source": "shop", "detail-type": "Order\u0000Created", "detail": {}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"k\u0000": 1}},
        {"source": "shop", "detail-type": "OrderCreated", "detail": {"note": "a backslash: \\u0000 is text"}},
    ]
    answer = post_json(api, "/api/events", events).json()
    assert [result["status"] for result in answer["results"]] == ["rejected", "rejected", "rejected", "accepted"]
    assert "U+0000" in answer["results"][0]["error"]
    assert Event.objects.get().detail == {"note": "a backslash: \\u0000 is text"}


def test_a_span_holding_nul_is_stored_with_a_replacement_character(api: Client) -> None:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "charge\u0000card",
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
        "attributes": [{"key": "note\u0000", "value": {"stringValue": "x\u0000y"}}],
    }
    body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]}
    response = post_json(api, "/v1/traces", body)
    assert response.status_code == 200, response.content
    stored = Span.objects.get()
    # PostgreSQL cannot store U+0000: there it becomes U+FFFD; SQLite keeps the span as sent.
    nul = "\ufffd" if connection.vendor == "postgresql" else "\x00"
    assert stored.name == f"charge{nul}card"
    assert stored.attributes == {f"note{nul}": f"x{nul}y"}


def test_an_otlp_integer_of_thousands_of_digits_refuses_its_span(api: Client) -> None:
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "n",
            "startTimeUnixNano": LONG_NUMBER, "endTimeUnixNano": "1"}  # fmt: skip
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    response = post_json(api, "/v1/traces", body)
    assert response.status_code == 200, response.content  # OTLP: the span is refused, the request is not
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/lifecycles", {**ORDER, "name": "ord\u0000er"}),
        ("/api/lifecycles", {**ORDER, "steps": ["OrderCreated", "Paid\u0000"]}),
        ("/api/lifecycles", {**ORDER, "pattern": {"source": ["shop\u0000"]}}),
        ("/api/consumers", {"name": "c", "url": "http://127.0.0.1:9/", "secret": "s\u0000"}),
        ("/api/consumers", {"name": "c\n", "url": "http://127.0.0.1:9/"}),
    ],
)
def test_definitions_holding_nul_are_a_400(api: Client, path: str, body: dict[str, Any]) -> None:
    response = post_json(api, path, body)
    assert response.status_code == 400, response.content


def deep_list(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def test_an_event_nested_past_what_json_writes_is_refused_alone(api: Client) -> None:
    deep = '{"source": "shop", "detail-type": "Deep", "detail": {"x": ' + deep_list(300) + "}}"
    body = "[" + deep + ', {"source": "shop", "detail-type": "Flat", "detail": {}}]'
    answer = api.post("/api/events", body, content_type="application/json").json()
    assert [result["status"] for result in answer["results"]] == ["rejected", "accepted"]
    assert "too deeply" in answer["results"][0]["error"]
    batch = '[{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": ' + deep_list(300) + "}]"
    response = api.post("/api/cloudevents", batch, content_type="application/cloudevents-batch+json")
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 1


def otlp_span(**fields: Any) -> dict[str, Any]:
    return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "n",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000", **fields}  # fmt: skip


def test_otlp_spans_and_logs_that_cannot_be_stored_are_refused_alone(api: Client) -> None:
    nested: Any = {"intValue": "1"}
    for _ in range(100):
        nested = {"arrayValue": {"values": [nested]}}
    late = str(2**63)
    spans = [
        otlp_span(spanId="0000000000000001", attributes=[{"key": "deep", "value": nested}]),
        otlp_span(spanId="0000000000000002", startTimeUnixNano=late, endTimeUnixNano=late),
        otlp_span(spanId="0000000000000003"),
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    response = post_json(api, "/v1/traces", body)
    assert response.status_code == 200, response.content
    assert response.json()["partialSuccess"]["rejectedSpans"] == "2"
    assert list(Span.objects.values_list("span_id", flat=True)) == ["0000000000000003"]
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": late, "body": {"stringValue": "x"}}]}]}]}
    answer = post_json(api, "/v1/logs", logs)
    assert answer.status_code == 200, answer.content
    assert answer.json()["partialSuccess"]["rejectedLogRecords"] == "1"


def test_a_protobuf_span_past_2262_is_refused_alone(api: Client) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for number, end in ((1, 2**63), (2, 1_700_000_000_100_000_000)):
        span = spans.add(trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"), span_id=number.to_bytes(8, "big"))
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = "n", 1_700_000_000_000_000_000, end
    response = api.post("/v1/traces", request.SerializeToString(), content_type="application/x-protobuf")
    assert response.status_code == 200
    assert Span.objects.count() == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"HTTP_DATE": "Fri, 31 Dec 9999 23:59:59 -0100"}, "Date must be in ISO-8601"),
        ({"HTTP_X_AMZ_DATE": "now", "region": "r" * 65}, "scoped to a valid region"),
        ({"HTTP_X_AMZ_DATE": "now", "region": "EU_WEST"}, "scoped to a valid region"),
    ],
)
def test_odd_sigv4_dates_and_regions_are_refused_with_a_4xx(
    client: Client, headers: dict[str, str], reason: str
) -> None:
    region = headers.pop("region", "eu-west-1")
    now = datetime.now(UTC)
    if headers.get("HTTP_X_AMZ_DATE") == "now":
        headers["HTTP_X_AMZ_DATE"] = now.strftime("%Y%m%dT%H%M%SZ")
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{now:%Y%m%d}/{region}/events/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64
    )
    response = client.post(
        "/aws", "{}", content_type="application/x-amz-json-1.1", HTTP_AUTHORIZATION=authorization,
        HTTP_X_AMZ_TARGET="AWSEvents.PutEvents", **headers,
    )  # fmt: skip
    assert 400 <= response.status_code < 500, response.content
    assert reason in response.content.decode()


@pytest.mark.parametrize(
    "path", ["/api/events?source=%00", "/api/events?%00=1", "/api/events/%00", "/api/keys/a%00b", "/api/consumers/%00"]
)
def test_nul_in_a_path_or_query_is_a_400(api: Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_nul_in_a_page_address_is_a_400(ops: Client) -> None:
    assert ops.get("/events/?source=%00").status_code == 400
    assert ops.get("/keys/a%00b/").status_code == 400


def test_a_pattern_text_nested_past_the_parser_is_a_400(api: Client) -> None:
    assert api.get("/api/events", {"pattern": "[" * 5000}).status_code == 400
    response = post_json(api, "/api/patterns/test", {"pattern": "{" * 5000, "event": {}})
    assert response.status_code == 400, response.content


def test_gzip_members_are_all_read_and_trailing_data_is_refused(api: Client) -> None:
    import gzip
    import zlib

    first = gzip.compress(b'[{"source": "shop", "detail-type": "A", "detail": {}},')
    second = gzip.compress(b'{"source": "shop", "detail-type": "B", "detail": {}}]')
    response = api.post("/api/events", first + second, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200, response.content
    assert sorted(Event.objects.values_list("detail_type", flat=True)) == ["A", "B"]
    trailing = zlib.compress(b'{"source": "shop", "detail-type": "C", "detail": {}}') + b"more"
    response = api.post("/api/events", trailing, content_type="application/json", HTTP_CONTENT_ENCODING="deflate")
    assert response.status_code == 400
    assert "after its compressed stream" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/api/consumers", {"name": "c", "url": "http://127.0.0.1:9/", "rate_per_second": 1e-12}, "rate_per_second"),
        ("/api/consumers", {"name": "c", "url": "http://intern\u00adal.example.com/"}, "ASCII"),
        ("/api/consumers", {"name": "c", "url": FULLWIDTH_LOCALHOST}, "ASCII"),
        ("/api/replays", {"name": "a\nb", "since": "2026-01-01T00:00:00Z", "consumers": ["c"]}, "printable"),
        ("/api/replays", {"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": ["\u0000"]}, "Unknown consumer"),
    ],
)
def test_replay_definitions_that_could_not_run_are_a_400(api: Client, path: str, body: Any, reason: str) -> None:
    response = post_json(api, path, body)
    assert response.status_code == 400, response.content
    assert reason in response.json()["error"]["message"]


def test_redrive_ids_out_of_range_are_a_400(api: Client) -> None:
    from tests.support.replay_helpers import make_consumer, make_replay

    replay = make_replay([make_consumer("c", "http://127.0.0.1:9/")])
    for ids in ([2**63], [0], [-1]):
        assert post_json(api, f"/api/replays/{replay.pk}/redrive", {"ids": ids}).status_code == 400


def test_an_integer_beyond_64_bits_is_refused_not_rounded(api: Client) -> None:
    big = '{"source": "shop", "detail-type": "A", "detail": {"n": 123456789012345678901234}}'
    response = api.post("/api/events", big, content_type="application/json")
    assert response.status_code == 400
    assert "beyond 64 bits" in response.json()["error"]["message"]
    cloud = '{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": {"n": -99999999999999999999}}'
    assert api.post("/api/cloudevents", cloud, content_type="application/cloudevents+json").status_code == 400
    fine = '{"source": "shop", "detail-type": "A", "detail": {"n": 18446744073709551615, '
    fine += '"id": "123456789012345678901234"}}'
    assert api.post("/api/events", fine, content_type="application/json").json()["accepted"] == 1
    assert Event.objects.get().detail == {"n": 18446744073709551615, "id": "123456789012345678901234"}
    assert not Event.objects.filter(detail_type="t").exists()
