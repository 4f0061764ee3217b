"""``POST /aws``: boto3's EventBridge client, unchanged, against the real server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from dashboard.events.models import Event
from tests.support.eventbridge import events_client

pytestmark = pytest.mark.usefixtures("transactional_db")


def entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Source": "shop.orders",
        "DetailType": "OrderCreated",
        "Detail": json.dumps({"order-id": "o-1", "metadata": {"idempotency-key": "create-o-1"}}),
    }
    base.update(overrides)
    return base


def test_put_events_stores_each_entry_and_answers_its_id(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    answer = events.put_events(
        Entries=[
            entry(
                Time=datetime(2026, 3, 1, 12, 0, tzinfo=UTC), Resources=["arn:aws:shop:order/o-1"], TraceHeader=header
            )
        ]
    )
    assert answer["FailedEntryCount"] == 0
    stored = Event.objects.get(id=answer["Entries"][0]["EventId"])
    assert stored.event_id == stored.id
    assert (stored.source, stored.detail_type, stored.format) == ("shop.orders", "OrderCreated", "eventbridge")
    assert stored.detail["order-id"] == "o-1" and stored.idempotency_key == "create-o-1"
    assert stored.time == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert stored.resources == ["arn:aws:shop:order/o-1"]
    assert stored.region == "eu-west-1"
    assert stored.trace_id == "5759e988bd862e3fe1be46a994272793" and stored.parent_span_id == "53995c3f42cd8ad8"


def test_a_malformed_detail_fails_only_its_entry(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    answer = events.put_events(Entries=[entry(), entry(Detail="{not json"), entry(Detail="[1, 2]")])
    assert answer["FailedEntryCount"] == 2
    assert "EventId" in answer["Entries"][0]
    assert answer["Entries"][1]["ErrorCode"] == "MalformedDetail"
    assert answer["Entries"][2]["ErrorCode"] == "MalformedDetail"
    assert Event.objects.count() == 1


def test_more_than_ten_entries_is_a_validation_exception(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry() for _ in range(11)])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert not Event.objects.exists()


def test_a_wrong_secret_is_refused(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret + "x")
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry()])
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400  # as AWS JSON services answer it
    assert not Event.objects.exists()


def test_an_unknown_key_is_refused(live_server_url, token):
    events = events_client(live_server_url, "ESUNKNOWNKEY0000000", token.secret)
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry()])
    assert raised.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_put_events_needs_the_ingest_scope(live_server_url, make_token):
    reader = make_token("read")
    events = events_client(live_server_url, reader.key_id, reader.secret)
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[entry()])
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"


def test_an_unsupported_operation_is_an_unknown_operation(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    with pytest.raises(ClientError) as raised:
        events.list_rules()
    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"


def test_test_event_pattern_answers_like_eventbridge(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    event = json.dumps({
        "id": "e-1", "account": "123456789012", "source": "shop.orders", "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1", "resources": [], "detail-type": "OrderCreated",
        "detail": {"amount": 120, "ip": "10.0.0.7"},
    })  # fmt: skip
    pattern = {
        "source": [{"prefix": "shop."}],
        "detail": {"amount": [{"numeric": [">", 100]}], "ip": [{"cidr": "10.0.0.0/24"}]},
    }
    assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=event)["Result"] is True
    pattern["detail"]["amount"] = [{"numeric": ["<", 100]}]
    assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=event)["Result"] is False


def test_test_event_pattern_rejects_an_invalid_pattern_with_the_reason(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    event = json.dumps(
        {"id": "1", "account": "1", "source": "s", "time": "t", "region": "r", "resources": [], "detail-type": "d"}
    )
    with pytest.raises(ClientError) as raised:
        events.test_event_pattern(EventPattern='{"detail": {"n": [{"numeric": [">", "x"]}]}}', Event=event)
    assert raised.value.response["Error"]["Code"] == "InvalidEventPatternException"
    assert "detail.n" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as raised:
        events.test_event_pattern(EventPattern='{"source": ["s"]}', Event='{"source": "s"}')
    assert raised.value.response["Error"]["Code"] == "InvalidArgument"


def test_an_entry_holding_nul_fails_alone(live_server_url, token):
    # U+0000 cannot be stored (PostgreSQL refuses it in text and jsonb): the entry is refused, the
    # others of the request are stored.
    events = events_client(live_server_url, token.key_id, token.secret)
    answer = events.put_events(Entries=[entry(Detail=json.dumps({"note": "a\u0000b"})), entry()])
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert "U+0000" in answer["Entries"][0]["ErrorMessage"]
    assert Event.objects.filter(id=answer["Entries"][1]["EventId"]).exists()


def test_a_detail_with_an_integer_beyond_64_bits_fails_alone(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)
    answer = events.put_events(Entries=[entry(Detail='{"n": 123456789012345678901234}'), entry()])
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "MalformedDetail"
    assert "beyond 64 bits" in answer["Entries"][0]["ErrorMessage"]
