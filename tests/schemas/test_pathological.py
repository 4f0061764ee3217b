"""Hostile shapes are stored, described within the documented bounds, and never a 5xx."""

from __future__ import annotations

import jsonschema
import orjson
import pytest

from dashboard.events.models import Event
from dashboard.schemas.shapes import MAX_DEPTH, MAX_PATHS
from tests.schemas.support import api_schema, send, versions

pytestmark = pytest.mark.django_db


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for level in range(depth):
        value = {f"l{level}": value}
    return value


def check(client, auth, detail_type):  # type: ignore[no-untyped-def]
    body = api_schema(client, auth, detail_type)
    for version in body["versions"]:
        jsonschema.Draft202012Validator.check_schema(version["schema"])
    for event in Event.objects.filter(detail_type=detail_type):
        jsonschema.validate(event.detail, body["versions"][-1]["schema"], cls=jsonschema.Draft202012Validator)
    return body


def test_ten_thousand_keys_are_stored_and_the_schema_is_truncated(client, auth):
    wide = {f"key-{n}": n for n in range(10_000)}
    send(client, auth, wide, detail_type="Wide")
    send(client, auth, {**wide, "key-5": "five"}, detail_type="Wide")  # a described path changes type
    (first, second) = versions("Wide")
    assert first.truncated and len(first.types) == MAX_PATHS  # "" (detail itself) among them
    assert second.kind == "breaking" and second.change["type_changed"][0]["path"] == "/key-5"
    body = check(client, auth, "Wide")
    assert body["versions"][0]["truncated"] is True
    assert "$comment" in body["versions"][0]["schema"]


def test_a_hundred_levels_deep_is_described_to_the_depth_bound(client, auth):
    send(client, auth, nested(100), detail_type="Deep")
    (version,) = versions("Deep")
    assert version.truncated
    assert max(path.count("/") for path in version.types) == MAX_DEPTH
    check(client, auth, "Deep")


def test_a_type_truncated_by_depth_still_gets_a_version_for_a_new_field(client, auth):
    send(client, auth, nested(100), detail_type="Deep")
    send(client, auth, nested(100), {**nested(100), "coupon": "SPRING"}, detail_type="Deep")
    body = check(client, auth, "Deep")
    assert [(v["change"]["kind"], v["change"]["added"], v["events"], v["truncated"]) for v in body["versions"]] == [
        ("initial", [], 2, True),
        ("compatible", ["/coupon"], 1, True),
    ]


def test_mixed_types_in_an_array_are_all_described(client, auth):
    send(client, auth, {"bag": [1, "two", 3.5, None, True, {"k": "v"}, [1]]}, detail_type="Mixed")
    (version,) = versions("Mixed")
    assert version.types["/bag/*"] == ["array", "boolean", "null", "number", "object", "string"]  # 1 is a number too
    check(client, auth, "Mixed")


def test_odd_details_never_answer_5xx(client, auth):
    odd = [
        {"": {"": {"": 1}}},
        {"a/b": {"~": [[[[]]]]}},
        {"k" * 5000: 1},
        {"nul\u0000key": "x"},
        {"neg": -(2**63), "float": 1e308, "tiny": 5e-324},
        {"list": [{"a": 1}, {"b": 2}, {}]},
    ]
    bodies = [orjson.dumps({"source": "shop.orders", "detail-type": "Odd", "detail": detail}) for detail in odd]
    bodies.append(b'{"source": "shop.orders", "detail-type": "Odd", "detail": {"big": 100000000000000000000000000000}}')
    for body in bodies:
        response = client.post(
            "/api/events",
            data=body,
            content_type="application/json",
            headers=auth,
        )
        assert response.status_code < 500, response.content
    check(client, auth, "Odd")


def test_the_pages_of_hostile_shapes_answer(client, auth, django_user_model):  # type: ignore[no-untyped-def]
    from tests.conftest import logged_in

    send(client, auth, {f"key-{n}": n for n in range(10_000)}, detail_type="Wide")
    send(client, auth, nested(100), detail_type="Deep")
    send(client, auth, {"bag": [1, "two", 3.5, None, True, {"k": "v"}, [1]]}, detail_type="Mixed")
    browser = logged_in(django_user_model, "watcher")
    assert browser.get("/schemas/").status_code == 200
    for detail_type in ("Wide", "Deep", "Mixed"):
        schema_id = api_schema(client, auth, detail_type)["id"]
        response = browser.get(f"/schemas/{schema_id}/")
        assert response.status_code == 200, detail_type
        assert (detail_type == "Mixed") != ("truncated" in response.content.decode())
