"""Schema discovery through native ingest (``POST /api/events``): versions and their changes (§11)."""

from __future__ import annotations

import jsonschema
import orjson
import pytest

from dashboard.events.models import Event
from tests.schemas.support import api_schema, send, version_of_events, versions

pytestmark = pytest.mark.django_db

ORDER = {"order-id": "o-1", "amount": 42, "customer": {"id": "c-1", "vip": False}, "items": [{"sku": "a", "qty": 1}]}


def test_a_types_first_events_make_version_one(client, auth):
    send(client, auth, ORDER, {**ORDER, "order-id": "o-2", "amount": 7})
    (first,) = versions()
    assert first.number == 1 and first.kind == "initial"
    assert first.types["/amount"] == ["integer"] and first.types["/items/*/sku"] == ["string"]
    assert "/order-id" in first.required and "/items/*/sku" not in first.required
    body = api_schema(client, auth)
    assert body["latest_version"] == 1 and body["events"] == 2 and body["breaking_changes"] == 0
    assert body["versions"][0]["change"] == {"kind": "initial", "added": [], "removed": [], "type_changed": []}
    assert body["versions"][0]["events"] == 2


def test_an_added_field_makes_a_compatible_version_two(client, auth):
    send(client, auth, ORDER)
    send(client, auth, {**ORDER, "coupon": "SPRING"}, ORDER)
    assert [(v.number, v.kind) for v in versions()] == [(1, "initial"), (2, "compatible")]
    body = api_schema(client, auth)
    change = body["versions"][1]["change"]
    assert change == {"kind": "compatible", "added": ["/coupon"], "removed": [], "type_changed": []}
    # The event without the coupon fits version 2 (the coupon is not required there) and counts in it.
    assert [v["events"] for v in body["versions"]] == [1, 2]


def test_a_number_sent_as_a_string_is_a_breaking_version(client, auth):
    send(client, auth, ORDER)
    send(client, auth, {**ORDER, "amount": "42"})
    body = api_schema(client, auth)
    assert body["latest_version"] == 2 and body["breaking_changes"] == 1
    change = body["versions"][1]["change"]
    assert change["kind"] == "breaking"
    assert change["type_changed"] == [{"path": "/amount", "from": "integer", "to": "string"}]


def test_an_integer_becoming_a_number_is_compatible(client, auth):
    send(client, auth, ORDER)
    send(client, auth, {**ORDER, "amount": 42.5})
    send(client, auth, {**ORDER, "amount": 3})  # fits: an integer is a number
    body = api_schema(client, auth)
    assert [v["change"]["kind"] for v in body["versions"]] == ["initial", "compatible"]
    assert body["versions"][1]["change"]["type_changed"] == [{"path": "/amount", "from": "integer", "to": "number"}]
    assert body["versions"][1]["events"] == 2


def test_an_event_without_a_required_field_is_a_breaking_version(client, auth):
    send(client, auth, ORDER, ORDER)
    without = {key: value for key, value in ORDER.items() if key != "customer"}
    send(client, auth, without)
    body = api_schema(client, auth)
    change = body["versions"][1]["change"]
    assert change["kind"] == "breaking" and change["removed"] == ["/customer", "/customer/id", "/customer/vip"]
    assert body["versions"][1]["first_event_id"] == Event.objects.order_by("-id").first().id
    assert body["breaking_changes"] == 1


def test_every_event_validates_against_the_schema_of_its_version(client, auth):
    shapes = [
        ORDER,
        {**ORDER, "coupon": None},
        {**ORDER, "amount": 1.5, "items": []},
        {**ORDER, "items": [{"sku": "b", "qty": 2, "gift": True}, {"sku": 3}]},
        {"order-id": "o-9", "amount": "ten", "tags": ["x", 1, None, {"k": []}]},
        {**ORDER, "customer": None},
        {"order-id": "o-10", "odd/key~name": {"*": 1}},
    ]
    for shape in shapes:
        send(client, auth, shape)
    body = api_schema(client, auth)
    schemas = {v["version"]: v["schema"] for v in body["versions"]}
    assert len(schemas) > 3
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    counted = version_of_events()
    assert sum(v["events"] for v in body["versions"]) == len(counted) == len(shapes)
    for event in Event.objects.all():
        jsonschema.validate(event.detail, schemas[counted[event.id]], cls=jsonschema.Draft202012Validator)


def test_the_list_filters_by_source_and_type(client, auth):
    send(client, auth, ORDER)
    send(client, auth, {"payment-id": "p-1"}, detail_type="PaymentCaptured")
    everything = client.get("/api/schemas", headers=auth).json()["results"]
    assert sorted(item["detail-type"] for item in everything) == ["OrderCreated", "PaymentCaptured"]
    only = client.get("/api/schemas?detail_type=PaymentCaptured", headers=auth).json()["results"]
    assert [(item["source"], item["detail-type"], item["events"]) for item in only] == [
        ("shop.orders", "PaymentCaptured", 1)
    ]
    assert client.get("/api/schemas?source=nobody", headers=auth).json() == {"results": []}


def test_a_request_of_several_types_counts_each_in_its_own_latest_version(client, auth):
    def mixed(*types: str, detail: dict = ORDER) -> None:
        body = [{"source": "shop.orders", "detail-type": kind, "detail": detail} for kind in types]
        response = client.post("/api/events", data=orjson.dumps(body), content_type="application/json", headers=auth)
        assert response.status_code == 200, response.content

    mixed("OrderCreated", "OrderPaid", "OrderShipped")  # three new types: each settled on its own
    mixed("OrderPaid", "OrderCreated", "OrderPaid", "OrderShipped", "OrderPaid")  # all fitted: counted at once
    mixed("OrderCreated", "OrderRefunded")  # one fitted, one new
    mixed("OrderShipped", detail={**ORDER, "carrier": "post"})  # a new version of one type
    mixed("OrderShipped", "OrderPaid")
    counts = {kind: [v["events"] for v in api_schema(client, auth, kind)["versions"]] for kind in
              ("OrderCreated", "OrderPaid", "OrderShipped", "OrderRefunded")}  # fmt: skip
    assert counts == {"OrderCreated": [3], "OrderPaid": [5], "OrderShipped": [2, 2], "OrderRefunded": [1]}


def test_unknown_ids_are_404(client, auth):
    for schema_id in ("999999", "nope", "-1", "99999999999999999999999"):
        response = client.get(f"/api/schemas/{schema_id}", headers=auth)
        assert response.status_code == 404, schema_id
        assert response.json()["error"]["code"] == "not_found"


def test_the_answers_carry_every_field_the_contract_names(client, auth):
    """CONTRACT.md §11, field by field (more fields may stand beside them)."""
    from datetime import UTC, datetime

    from tracing.models import Span, SpanLink

    now = datetime.now(UTC)
    for n, amount in enumerate([1, "2"]):
        trace, publish, consume = f"{n + 1:032x}", f"{n + 1:016x}", f"{n + 101:016x}"
        send(client, auth, {**ORDER, "amount": amount}, traceparent=f"00-{trace}-{publish}-01")
        Span.objects.create(trace_id=trace, span_id=consume, parent_span_id=publish, name="handle", service="billing",
                            kind=5, start_ns=n, end_ns=n + 1, received_at=now)  # fmt: skip
        SpanLink.objects.create(trace_id=trace, span_id=consume, linked_trace_id=trace, linked_span_id=publish)
    (listed,) = client.get("/api/schemas", headers=auth).json()["results"]
    summary = {"id", "source", "detail-type", "latest_version", "versions", "events", "first_seen", "last_seen",
               "breaking_changes"}  # fmt: skip
    assert summary <= set(listed)
    body = client.get(f"/api/schemas/{listed['id']}", headers=auth).json()
    assert summary | {"consumers"} <= set(body)
    assert [version["version"] for version in body["versions"]] == [1, 2]  # oldest first
    for version in body["versions"]:
        assert {"version", "schema", "events", "first_seen", "last_seen", "first_event_id", "change"} <= set(version)
        assert set(version["change"]) == {"kind", "added", "removed", "type_changed"}
        assert version["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    breaking = body["versions"][1]
    assert breaking["change"]["type_changed"] == [{"path": "/amount", "from": "integer", "to": "string"}]
    (impact,) = breaking["impact"]
    assert {"service", "seen", "before", "after", "started_failing"} <= set(impact) and impact["service"] == "billing"
    (consumer,) = body["consumers"]
    assert consumer["service"] == "billing" and consumer["versions"] == [1, 2]
    for timestamp in (listed["first_seen"], listed["last_seen"], breaking["first_seen"], breaking["last_seen"]):
        assert datetime.fromisoformat(timestamp).tzinfo is not None  # RFC 3339, with its offset
