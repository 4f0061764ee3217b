"""``POST /api/schemas/<id>/pin``: a pinned version is checked at ingest; failures are findable."""

from __future__ import annotations

import orjson
import pytest

from dashboard.events.models import Event
from dashboard.schemas.models import Schema
from tests.schemas.support import SOURCE, TYPE, send

pytestmark = pytest.mark.django_db

ORDER = {"order-id": "o-1", "amount": 42}


def pin(client, auth, version, schema_id=None):  # type: ignore[no-untyped-def]
    schema_id = schema_id or Schema.objects.get(source=SOURCE, detail_type=TYPE).id
    return client.post(
        f"/api/schemas/{schema_id}/pin", data=orjson.dumps({"version": version}), content_type="application/json",
        headers=auth,
    )  # fmt: skip


def test_pinning_flags_a_non_conforming_event_and_schema_valid_false_finds_it(client, auth):
    (before,) = send(client, auth, ORDER)
    response = pin(client, auth, 1)
    assert response.status_code == 200, response.content
    assert response.json()["pinned_version"] == 1
    good, bad, missing = send(
        client, auth, {**ORDER, "note": "new fields are allowed"}, {**ORDER, "amount": "42"}, {"order-id": "o-3"}
    )
    stored = {event.id: event.schema_error for event in Event.objects.all()}
    assert stored[before] is None  # stored before the pin: not checked
    assert stored[good] == ""
    assert stored[bad] == "version 1: /amount: string, expected integer"
    assert stored[missing] == "version 1: /amount: required, missing"
    found = client.get("/api/events?schema_valid=false", headers=auth).json()["results"]
    assert [(event["id"], event["schema_valid"]) for event in found] == [(missing, False), (bad, False)]
    assert found[1]["schema_error"] == "version 1: /amount: string, expected integer"
    valid = client.get("/api/events?schema_valid=true", headers=auth).json()["results"]
    assert [event["id"] for event in valid] == [good]
    detail = client.get(f"/api/events/{bad}", headers=auth).json()
    assert detail["schema_valid"] is False and "/amount" in detail["schema_error"]


def test_a_failing_event_is_still_stored_and_counted(client, auth):
    send(client, auth, ORDER)
    pin(client, auth, 1)
    (bad,) = send(client, auth, {"amount": "x"})
    assert Event.objects.filter(id=bad).exists()
    assert Schema.objects.get().latest_version == 2


def test_unpinning_stops_the_check(client, auth):
    send(client, auth, ORDER)
    pin(client, auth, 1)
    assert pin(client, auth, None).json()["pinned_version"] is None
    (after,) = send(client, auth, {"amount": "x"})
    assert Event.objects.get(id=after).schema_error is None


def test_a_pin_of_an_unknown_version_is_400_and_of_an_unknown_schema_404(client, auth):
    send(client, auth, ORDER)
    for version in (2, 0, "1", True, 1.5):
        response = pin(client, auth, version)
        assert response.status_code == 400, version
        assert response.json()["error"]["where"] == "version"
    assert pin(client, auth, 1, schema_id=987654).status_code == 404
    bad_body = client.post(
        f"/api/schemas/{Schema.objects.get().id}/pin", data=b"[1]", content_type="application/json", headers=auth
    )
    assert bad_body.status_code == 400
    not_json = client.post(
        f"/api/schemas/{Schema.objects.get().id}/pin", data=b"{", content_type="application/json", headers=auth
    )
    assert not_json.status_code == 400
    assert Schema.objects.get().pinned_version is None


def test_pinning_needs_the_operate_scope(client, make_token):
    reader = make_token("ingest,read", name="reader")
    auth = {"Authorization": f"Bearer {reader.token}"}
    send(client, auth, ORDER)
    assert pin(client, auth, 1).status_code == 403
    assert client.get("/api/schemas", headers=auth).status_code == 200


def test_schema_valid_takes_only_true_or_false(client, auth):
    response = client.get("/api/events?schema_valid=maybe", headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["where"] == "schema_valid"
