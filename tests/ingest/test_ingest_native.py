"""``POST /api/events``: native JSON ingest, its dedupe, keys, trace context and every bad input."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.events.models import Event, EventKey

pytestmark = pytest.mark.django_db

URL = "/api/events"


def event(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "source": "shop.orders",
        "detail-type": "OrderCreated",
        "detail": {"order-id": "o-1", "total": 42},
    }
    body.update(overrides)
    return body


def post(client, auth, payload, **headers):  # type: ignore[no-untyped-def]
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.post(
        URL, data=data, content_type=headers.pop("content_type", "application/json"), headers={**auth, **headers}
    )


def test_it_accepts_one_event_and_answers_its_stored_id(client, auth):
    response = post(client, auth, event(id="e-1", time="2026-01-02T03:04:05Z"))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0 and body["rejected"] == 0
    stored = Event.objects.get(id=body["results"][0]["id"])
    assert stored.event_id == "e-1"
    assert stored.source == "shop.orders" and stored.detail_type == "OrderCreated"
    assert stored.detail == {"order-id": "o-1", "total": 42}
    assert stored.time.isoformat() == "2026-01-02T03:04:05+00:00"
    assert stored.format == "native"
    assert orjson.loads(stored.raw)["id"] == "e-1"


def test_an_event_without_an_id_gets_the_stored_id_as_its_id(client, auth):
    body = post(client, auth, event()).json()
    stored = Event.objects.get(id=body["results"][0]["id"])
    assert stored.event_id == stored.id


def test_it_answers_a_batch_entry_by_entry_in_order(client, auth):
    batch = [event(id="a"), {"source": "x"}, event(id="b"), event(id="a")]
    body = post(client, auth, batch).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted", "duplicate"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert "detail-type" in body["results"][1]["error"]
    assert body["results"][3]["id"] == body["results"][0]["id"]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    assert Event.objects.count() == 2


def test_the_same_source_and_id_sent_again_is_stored_once(client, auth):
    first = post(client, auth, event(id="same")).json()["results"][0]
    again = post(client, auth, event(id="same", detail={"changed": True})).json()["results"][0]
    assert again["status"] == "duplicate" and again["id"] == first["id"]
    assert Event.objects.get().detail == {"order-id": "o-1", "total": 42}
    other_source = post(client, auth, event(id="same", source="shop.billing")).json()["results"][0]
    assert other_source["status"] == "accepted"


def test_a_batch_mixing_new_events_and_one_stored_before_answers_each_with_its_stored_id(client, auth):
    first = post(client, auth, event(id="old")).json()["results"][0]
    batch = [event(id="new-1"), event(id="old", detail={"changed": True}), event(id="new-2"), event()]
    results = post(client, auth, batch).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "duplicate", "accepted", "accepted"]
    assert results[1]["id"] == first["id"]
    for result, event_id in ((results[0], "new-1"), (results[2], "new-2")):
        assert Event.objects.get(id=result["id"]).event_id == event_id
    assert Event.objects.get(id=results[3]["id"]).event_id == results[3]["id"]
    assert Event.objects.get(event_id="old").detail == {"order-id": "o-1", "total": 42}
    assert Event.objects.count() == 4


def test_a_batch_of_new_events_is_not_read_back_to_find_duplicates(client, auth):
    # Every row went in (the insert's count says so), so no producer id needs looking up.
    post(client, auth, event(id="before"))
    with CaptureQueriesContext(connection) as queries:
        body = post(client, auth, [event(id=f"fresh-{n}") for n in range(5)]).json()
    assert body["accepted"] == 5
    # Neither the event table nor (PostgreSQL) its dedupe keys' table is read.
    tables = [connection.ops.quote_name(model._meta.db_table) for model in (Event, EventKey)]
    read = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and any(f"FROM {t}" in q["sql"] for t in tables)]
    assert not read
    again = post(client, auth, [event(id="before"), event(id="fresh-6")]).json()  # one stored before is found
    assert [r["status"] for r in again["results"]] == ["duplicate", "accepted"]


def test_retries_with_the_same_idempotency_key_are_each_stored(client, auth):
    detail = {"order-id": "o-9", "metadata": {"idempotency-key": "order-9-create"}}
    for attempt in ("r1", "r2", "r3"):
        assert post(client, auth, event(id=attempt, detail=detail)).json()["accepted"] == 1
    assert Event.objects.filter(idempotency_key="order-9-create").count() == 3


def test_the_idempotency_key_header_applies_to_a_single_event_only(client, auth):
    post(client, auth, event(id="h1"), **{"Idempotency-Key": "hdr-key"})
    assert Event.objects.get(event_id="h1").idempotency_key == "hdr-key"
    post(client, auth, [event(id="h2"), event(id="h3")], **{"Idempotency-Key": "batch-key"})
    assert not Event.objects.filter(idempotency_key="batch-key").exists()


def test_the_detail_metadata_key_wins_over_the_header(client, auth):
    detail = {"metadata": {"idempotency-key": "from-detail"}}
    post(client, auth, event(id="k", detail=detail), **{"Idempotency-Key": "from-header"})
    assert Event.objects.get().idempotency_key == "from-detail"


def test_it_takes_the_trace_from_traceparent(client, auth):
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    post(client, auth, event(traceparent=tp))
    stored = Event.objects.get()
    assert (stored.trace_id, stored.parent_span_id) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


def test_it_converts_an_xray_trace_header(client, auth):
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    post(client, auth, event(**{"trace-header": header}))
    stored = Event.objects.get()
    assert (stored.trace_id, stored.parent_span_id) == ("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"detail-type": "T", "detail": {}}, "source"),
        ({"source": "s", "detail": {}}, "detail-type"),
        ({"source": "s", "detail-type": "T"}, "detail"),
        ({"source": "s", "detail-type": "T", "detail": "text"}, "detail"),
        ({"source": "s", "detail-type": "T", "detail": {}, "time": "yesterday"}, "time"),
        ({"source": "s", "detail-type": "T", "detail": {}, "time": "2026-01-01T00:00:00"}, "offset"),
        ({"source": "s", "detail-type": "T", "detail": {}, "resources": "arn"}, "resources"),
        ({"source": "s", "detail-type": "T", "detail": {}, "traceparent": "00-zz"}, "traceparent"),
        ({"source": "s" * 300, "detail-type": "T", "detail": {}}, "256"),
        ("not an object", "object"),
    ],
)
def test_an_invalid_entry_is_rejected_with_a_reason(client, auth, entry, message):
    body = post(client, auth, [entry, event(id="ok")]).json()
    assert body["results"][0]["status"] == "rejected"
    assert message in body["results"][0]["error"]
    assert body["results"][1]["status"] == "accepted"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'"a string"', "invalid_body"),
        (b"[]", "empty_batch"),
        (orjson.dumps([event(id=str(i)) for i in range(501)]), "batch_too_large"),
    ],
)
def test_a_malformed_body_is_a_400_and_stores_nothing(client, auth, payload, code):
    post(client, auth, event(id="before"))
    response = post(client, auth, payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert list(Event.objects.values_list("event_id", flat=True)) == ["before"]


def test_a_wrong_content_type_is_a_415(client, auth):
    response = post(client, auth, orjson.dumps(event()), content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_a_413(client, auth, settings):
    settings.EVENTSCOPE_MAX_BODY_BYTES = 2048
    big = event(detail={"blob": "x" * 4096})
    response = post(client, auth, big)
    assert response.status_code == 413
    assert not Event.objects.exists()


def test_a_gzip_bomb_is_a_413(client, auth, settings):
    settings.EVENTSCOPE_MAX_BODY_BYTES = 64 * 1024
    bomb = gzip.compress(b'{"source": "s", "detail-type": "T", "detail": {"x": "' + b"A" * 5_000_000 + b'"}}')
    assert len(bomb) < 64 * 1024
    response = post(client, auth, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda d: zlib.compress(d)[2:-4])],
)
def test_it_accepts_compressed_bodies(client, auth, encoding, compress):
    response = post(client, auth, compress(orjson.dumps(event(id="z"))), **{"Content-Encoding": encoding})
    assert response.status_code == 200, response.content
    assert Event.objects.get().event_id == "z"


def test_a_corrupt_compressed_body_is_a_400(client, auth):
    response = post(client, auth, b"\x1f\x8b\x08garbage", **{"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_an_unknown_content_encoding_is_a_415(client, auth):
    response = post(client, auth, orjson.dumps(event()), **{"Content-Encoding": "br"})
    assert response.status_code == 415


def test_it_requires_a_token(client):
    response = client.post(URL, data=orjson.dumps(event()), content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_it_refuses_a_bad_token(client, token):
    for header in (f"Bearer {token.key_id}.wrong", "Bearer nonsense", "Basic abc", f"Bearer {token.token}x"):
        response = client.post(URL, data=b"{}", content_type="application/json", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_it_requires_the_ingest_scope(client, make_token):
    reader = make_token("read")
    response = post(client, {"Authorization": f"Bearer {reader.token}"}, event())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_revoked_token_is_refused(client, token, auth):
    from dashboard.core.tokens import revoke

    assert post(client, auth, event()).status_code == 200
    revoke(token.key_id)
    assert post(client, auth, event()).status_code == 401


@pytest.mark.usefixtures("transactional_db")
def test_an_acknowledged_event_is_committed_and_served_by_the_real_server(live_server_url, token):
    headers = {"Authorization": f"Bearer {token.token}"}
    response = requests.post(
        f"{live_server_url}/api/events", json=[event(id="live-1"), event(id="live-2")], headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    ids = [r["id"] for r in response.json()["results"]]
    # Acknowledged means committed: another connection sees the rows at once.
    assert set(Event.objects.filter(id__in=ids).values_list("event_id", flat=True)) == {"live-1", "live-2"}
    fetched = requests.get(f"{live_server_url}/api/events/{ids[0]}", headers=headers, timeout=10)
    assert fetched.status_code == 200 and fetched.json()["event_id"] == "live-1"
