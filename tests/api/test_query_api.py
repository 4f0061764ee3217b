"""The query API: event search and paging, one event, a trace, a key's ledger; tokens and sessions."""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def ingest(client, auth, events):  # type: ignore[no-untyped-def]
    response = client.post("/api/events", data=orjson.dumps(events), content_type="application/json", headers=auth)
    assert response.status_code == 200, response.content
    return [result["id"] for result in response.json()["results"]]


def shop_event(
    i: int, source: str = "shop.orders", detail_type: str = "OrderCreated", **extra: object
) -> dict[str, object]:
    return {
        "id": f"e-{i}",
        "source": source,
        "detail-type": detail_type,
        "time": f"2026-01-01T00:00:{i:02d}Z",
        "detail": {"order-id": f"o-{i}", "amount": i, "metadata": {"idempotency-key": f"k-{i % 3}"}},
        **extra,
    }


@pytest.fixture
def seeded(client, auth):  # type: ignore[no-untyped-def]
    events = [shop_event(i) for i in range(10)]
    events += [
        shop_event(i, "shop.billing", "OrderPaid", traceparent=f"00-{TRACE}-00f067aa0ba902b7-01") for i in range(10, 15)
    ]
    return ingest(client, auth, events)


def get(client, auth, url, **params):  # type: ignore[no-untyped-def]
    return client.get(url, params, headers=auth)


def test_events_are_listed_newest_first_in_the_flat_shape(client, auth, seeded):
    body = get(client, auth, "/api/events").json()
    assert [e["id"] for e in body["results"]] == list(reversed(seeded))
    first = body["results"][0]
    assert set(first) == {
        "id", "event_id", "source", "detail-type", "time", "resources", "detail", "trace_id",
        "parent_span_id", "idempotency_key", "received_at", "format", "replay_name", "schema_valid", "schema_error",
    }  # fmt: skip
    assert first["event_id"] == "e-14" and first["trace_id"] == TRACE and first["time"] == "2026-01-01T00:00:14Z"
    assert body["next_cursor"] is None


def test_the_cursor_pages_through_everything_once(client, auth, seeded):
    seen, cursor = [], None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        body = get(client, auth, "/api/events", **params).json()
        seen += [e["id"] for e in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(seeded))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source": "shop.billing"}, {f"e-{i}" for i in range(10, 15)}),
        ({"detail_type": "OrderCreated", "source": "shop.orders"}, {f"e-{i}" for i in range(10)}),
        ({"trace_id": TRACE.upper()}, {f"e-{i}" for i in range(10, 15)}),
        ({"idempotency_key": "k-0"}, {"e-0", "e-3", "e-6", "e-9", "e-12"}),
        ({"since": "2026-01-01T00:00:12Z", "until": "2026-01-01T00:00:14Z"}, {"e-12", "e-13"}),
        ({"q": '"o-7"'}, {"e-7"}),
        ({"pattern": '{"detail": {"amount": [{"numeric": [">=", 13]}]}}'}, {"e-13", "e-14"}),
        ({"pattern": '{"source": ["shop.orders"], "detail": {"order-id": [{"prefix": "o-1"}]}}'}, {"e-1"}),
    ],
)
def test_search_filters(client, auth, seeded, params, expected):
    body = get(client, auth, "/api/events", **params).json()
    assert {e["event_id"] for e in body["results"]} == expected


def test_a_pattern_search_pages_with_a_cursor(client, auth, seeded):
    pattern = '{"detail-type": ["OrderCreated"]}'
    first = get(client, auth, "/api/events", pattern=pattern, limit=6).json()
    second = get(client, auth, "/api/events", pattern=pattern, limit=6, cursor=first["next_cursor"]).json()
    ids = [e["event_id"] for e in first["results"] + second["results"]]
    assert ids == [f"e-{i}" for i in range(9, -1, -1)]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pattern": "{not json"}, "invalid_pattern"),
        ({"pattern": '{"source": "not-a-list"}'}, "invalid_pattern"),
        ({"pattern": '{"detail": {"n": [{"numeric": [">", "x"]}]}}'}, "invalid_pattern"),
        ({"limit": "0"}, "invalid_parameter"),
        ({"limit": "501"}, "invalid_parameter"),
        ({"since": "last tuesday"}, "invalid_parameter"),
        ({"cursor": "'; drop table"}, "invalid_cursor"),
    ],
)
def test_bad_search_parameters_are_a_400_that_says_why(client, auth, seeded, params, code):
    response = get(client, auth, "/api/events", **params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_one_event_has_its_envelope_original_and_links(client, auth, seeded):
    body = get(client, auth, f"/api/events/{seeded[12]}").json()
    assert body["envelope"] == {
        "version": "0", "id": "e-12", "source": "shop.billing", "detail-type": "OrderPaid",
        "time": "2026-01-01T00:00:12Z", "account": "000000000000", "region": "local", "resources": [],
        "detail": {"order-id": "o-12", "amount": 12, "metadata": {"idempotency-key": "k-0"}},
    }  # fmt: skip
    assert body["original"]["traceparent"].startswith("00-" + TRACE)
    assert body["links"]["trace"] == f"/api/traces/{TRACE}" and body["links"]["key"] == "/api/keys/k-0"
    assert body["idempotency_key"] == "k-0"


def test_unknown_ids_are_404(client, auth, seeded):
    assert get(client, auth, "/api/events/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert get(client, auth, "/api/traces/" + "a" * 32).status_code == 404
    assert get(client, auth, "/api/keys/never-seen").status_code == 404
    assert get(client, auth, "/api/traces/not-hex").status_code == 400


def test_the_key_ledger_lists_every_delivery_oldest_first(client, auth, seeded):
    body = get(client, auth, "/api/keys/k-0").json()
    assert body["key"] == "k-0"
    assert [e["event_id"] for e in body["events"]] == ["e-0", "e-3", "e-6", "e-9", "e-12"]
    assert body["duplicates"] == 4
    assert body["traces"] == [TRACE]


def test_traces_sharing_an_idempotency_key_are_linked(client, auth):
    other = "0af7651916cd43dd8448eb211c80319c"
    ingest(client, auth, [
        shop_event(1, traceparent=f"00-{TRACE}-00f067aa0ba902b7-01", detail={"metadata": {"idempotency-key": "pay-1"}}),
        shop_event(2, "shop.billing", "PaymentTaken", traceparent=f"00-{other}-b7ad6b7169203331-01",
                   detail={"metadata": {"idempotency-key": "pay-1"}}),
    ])  # fmt: skip
    body = get(client, auth, f"/api/traces/{TRACE}").json()
    assert [e["event_id"] for e in body["events"]] == ["e-1"]
    assert body["linked_traces"] == [{"trace_id": other, "relation": "shares_key", "idempotency_key": "pay-1"}]


def test_query_endpoints_need_the_read_scope(client, make_token, seeded):
    ingest_only = make_token("ingest")
    response = client.get("/api/events", headers={"Authorization": f"Bearer {ingest_only.token}"})
    assert response.status_code == 403
    assert client.get("/api/events").status_code == 401


def test_a_logged_in_session_can_query_and_must_send_csrf_to_write(seeded):
    from django.test import Client

    User.objects.create_user("reader", password="pw-123456789")
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="reader", password="pw-123456789")
    assert browser.get("/api/events").status_code == 200
    body = orjson.dumps({"pattern": {"source": ["a"]}, "event": {"source": "a"}})
    response = browser.post("/api/patterns/test", data=body, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    browser.get("/login/")  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(
        "/api/patterns/test", data=body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 200 and response.json() == {"match": True}


def test_the_pattern_test_endpoint(client, auth):
    def check(pattern: object, event: object) -> object:
        return client.post(
            "/api/patterns/test",
            data=orjson.dumps({"pattern": pattern, "event": event}),
            content_type="application/json",
            headers=auth,
        )

    assert check({"detail": {"n": [{"numeric": [">", 5]}]}}, {"detail": {"n": 6}}).json() == {"match": True}
    assert check({"detail": {"n": [{"numeric": [">", 5]}]}}, {"detail": {"n": 5}}).json() == {"match": False}
    invalid = check({"detail": {"n": [{"nonsense": 1}]}}, {"detail": {}})
    assert invalid.status_code == 400 and "detail.n" in invalid.json()["error"]["message"]
    assert check({"source": ["a"]}, "not an object").status_code == 400
