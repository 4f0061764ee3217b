"""``POST /api/lifecycles`` (operate) validates and stores a lifecycle; ``GET`` (read) lists them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard.lifecycles.models import Lifecycle
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db

ORDER: dict[str, Any] = {
    "name": "order",
    "key": "detail.data.order-id",
    "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
    "timeout_seconds": 900,
}


def post(client: Client, body: Any, headers: dict[str, str]) -> Any:
    return client.post("/api/lifecycles", body, content_type="application/json", headers=headers)


def test_it_creates_a_lifecycle_and_answers_201_with_it(client: Client, auth: dict[str, str]) -> None:
    response = post(client, {**ORDER, "pattern": {"source": ["shop.orders"]}}, auth)
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ORDER} == ORDER
    assert body["pattern"] == {"source": ["shop.orders"]}
    assert body["id"] == Lifecycle.objects.get(name="order").pk
    listed = client.get("/api/lifecycles", headers=auth).json()["results"]
    assert [item["name"] for item in listed] == ["order"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": ""}, "'name' is required"),
        ({"name": 5}, "'name' is required"),
        ({"key": ""}, "'key' is required"),
        ({"key": "detail..order-id"}, "not a dotted path"),
        ({"key": "payload.order-id"}, "must start with an envelope field"),
        ({"key": "source.x"}, "holds no object"),
        ({"steps": []}, "non-empty list"),
        ({"steps": "OrderCreated"}, "non-empty list"),
        ({"steps": ["OrderCreated", ""]}, "non-empty detail-type"),
        ({"steps": ["OrderCreated", "OrderPaid", "OrderCreated"]}, "repeated: OrderCreated"),
        ({"timeout_seconds": 0}, "above 0"),
        ({"timeout_seconds": -5}, "above 0"),
        ({"timeout_seconds": "900"}, "above 0"),
        ({"timeout_seconds": True}, "above 0"),
        ({"pattern": {"detail-type": "OrderCreated"}}, "Invalid event pattern"),
        ({"pattern": {}}, "Invalid event pattern"),
        ({"colour": "blue"}, "Unknown field(s): colour"),
    ],
)
def test_it_rejects_an_invalid_definition_with_the_reason(
    client: Client, auth: dict[str, str], change: dict[str, Any], reason: str
) -> None:
    response = post(client, {**ORDER, **change}, auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_lifecycle"
    assert reason in response.json()["error"]["message"]
    assert not Lifecycle.objects.exists()


def test_it_rejects_a_missing_field_a_non_object_and_bad_json(client: Client, auth: dict[str, str]) -> None:
    assert post(client, {k: v for k, v in ORDER.items() if k != "steps"}, auth).status_code == 400
    assert post(client, [ORDER], auth).status_code == 400
    response = client.post("/api/lifecycles", b"{nope", content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_name_is_taken_once(client: Client, auth: dict[str, str]) -> None:
    assert post(client, ORDER, auth).status_code == 201
    response = post(client, ORDER, auth)
    assert response.status_code == 409  # as for a consumer's name
    assert response.json()["error"]["code"] == "conflict"
    assert "already exists" in response.json()["error"]["message"]


def test_defining_needs_operate_and_listing_needs_read(client: Client, make_token: Any) -> None:
    reader = {"Authorization": f"Bearer {make_token('read').token}"}
    ingester = {"Authorization": f"Bearer {make_token('ingest').token}"}
    assert post(client, ORDER, reader).status_code == 403
    assert post(client, ORDER, {}).status_code == 401
    assert client.get("/api/lifecycles", headers=ingester).status_code == 403
    assert client.get("/api/lifecycles", headers=reader).status_code == 200


def test_a_session_defines_lifecycles_only_with_csrf(django_user_model: Any) -> None:
    browser = logged_in(django_user_model, "ops", csrf=True)
    assert post(browser, ORDER, {}).status_code == 403
    page = browser.get("/transactions/")
    token = page.cookies["csrftoken"].value
    assert post(browser, ORDER, {"X-CSRFToken": token}).status_code == 201
