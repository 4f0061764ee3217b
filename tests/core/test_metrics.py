"""``GET /metrics``: who may read it, the values after known traffic, and the same totals from either
of two server processes that share a multiprocess folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import requests
from django.db import OperationalError
from prometheus_client.parser import text_string_to_metric_families

from dashboard.lifecycles import fold
from dashboard.replay.models import Replay
from tests.support.replay_helpers import make_consumer, make_replay
from tests.support.servers import server_env, serving

pytestmark = pytest.mark.django_db

ITEMS = "eventscope_ingest_items_total"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client, auth) -> dict:
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


def events(*ids: str) -> list[dict]:
    return [{"source": "shop", "detail-type": "OrderCreated", "id": i, "detail": {}} for i in ids]


def test_it_needs_a_read_token_unless_made_public(client, make_token, settings):
    assert client.get("/metrics").status_code == 401
    ingest_only = make_token("ingest").token
    refused = client.get("/metrics", headers={"Authorization": f"Bearer {ingest_only}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    reader = make_token("read").token
    assert client.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    settings.EVENTSCOPE_METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


def test_ingest_counts_items_by_endpoint_kind_and_outcome_and_times_requests(client, auth):
    before = scrape(client, auth)
    body = [*events("m-1", "m-2", "m-3", "m-1"), {"source": "shop"}]  # a duplicate, and one without detail-type
    answer = client.post("/api/events", body, content_type="application/json", headers=auth).json()
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (3, 1, 1)
    spans = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]},
             "scopeSpans": [{"spans": [
                 {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": f"eee19b7ec3c1b17{n}", "name": "op",
                  "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}
                 for n in range(2)]}]}]}  # fmt: skip
    assert client.post("/v1/traces", spans, content_type="application/json", headers=auth).status_code == 200
    after = scrape(client, auth)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(ITEMS, endpoint="events", kind="event", outcome="accepted") == 3
    assert grew(ITEMS, endpoint="events", kind="event", outcome="duplicate") == 1
    assert grew(ITEMS, endpoint="events", kind="event", outcome="rejected") == 1
    assert grew(ITEMS, endpoint="otlp_traces", kind="span", outcome="accepted") == 2
    assert grew("eventscope_ingest_request_seconds_count", endpoint="events") == 1
    assert grew("eventscope_ingest_request_seconds_count", endpoint="otlp_traces") == 1
    # A search on the same path is no ingest: not timed.
    client.get("/api/events", headers=auth)
    assert value(scrape(client, auth), "eventscope_ingest_request_seconds_count", endpoint="events") == value(
        after, "eventscope_ingest_request_seconds_count", endpoint="events"
    )


def test_a_busy_database_is_counted(client, auth, monkeypatch):
    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("database is locked")

    before = value(scrape(client, auth), "eventscope_database_busy_total")
    monkeypatch.setattr("dashboard.ingest.native.store_events", locked)
    response = client.post("/api/events", events("busy-1"), content_type="application/json", headers=auth)
    assert response.status_code == 503
    assert value(scrape(client, auth), "eventscope_database_busy_total") == before + 1


def test_dead_letters_and_running_replays_are_read_at_scrape_time(client, auth):
    replay = make_replay([make_consumer("c", "http://127.0.0.1:9/hook")])
    Replay.objects.filter(pk=replay.pk).update(failed=4, state=Replay.RUNNING)
    scraped = scrape(client, auth)
    assert value(scraped, "eventscope_replay_dead_letters") == 4
    assert value(scraped, "eventscope_replays_running") == 1


@pytest.mark.sqlite
def test_the_fold_lag_is_what_waits_to_be_folded(client, auth):
    client.post("/api/events", events("f-1", "f-2"), content_type="application/json", headers=auth)
    lag = fold.lag()
    assert lag is not None and lag >= 2
    assert value(scrape(client, auth), "eventscope_lifecycle_fold_lag_events") == lag
    fold.fold_pending()
    assert value(scrape(client, auth), "eventscope_lifecycle_fold_lag_events") == 0


def _post(url: str, token: str, ids: Iterable[str]) -> None:
    response = requests.post(f"{url}/api/events", json=events(*ids), headers={"Authorization": f"Bearer {token}"},
                             timeout=10)  # fmt: skip
    assert response.status_code == 200 and response.json()["accepted"] == len(list(ids)), response.text


@pytest.mark.server
@pytest.mark.usefixtures("transactional_db")
def test_two_server_processes_sharing_a_folder_answer_the_same_totals(tmp_path: Path, make_token):
    token = make_token().token
    env = server_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"), EVENTSCOPE_METRICS_PUBLIC="1")
    with serving(tmp_path / "a.log", env) as (_, first), serving(tmp_path / "b.log", env) as (_, second):
        _post(first, token, ["a-1", "a-2"])
        _post(second, token, ["b-1", "b-2", "b-3"])
        _post(second, token, ["b-4"])
        for url in (first, second):
            scraped = samples(requests.get(f"{url}/metrics", timeout=10).text)
            assert value(scraped, ITEMS, endpoint="events", kind="event", outcome="accepted") == 6
            assert value(scraped, "eventscope_ingest_request_seconds_count", endpoint="events") == 3
            assert value(scraped, "eventscope_replay_dead_letters") == 0  # read at scrape time there too


def test_ingest_turned_away_for_too_many_in_flight_is_counted(client, auth, settings):
    from channels.testing import HttpCommunicator

    from config.asgi import application
    from tests.support.live_support import run

    settings.EVENTSCOPE_INGEST_MAX_INFLIGHT = 0  # every ingest request finds the limit reached
    before = value(scrape(client, auth), "eventscope_ingest_overloaded_total")

    async def post() -> int:
        headers = [(b"authorization", auth["Authorization"].encode()), (b"content-type", b"application/json")]
        communicator = HttpCommunicator(application, "POST", "/api/events", body=b"[]", headers=headers)
        return int((await communicator.get_response(timeout=30))["status"])

    assert run(post()) == 503
    assert value(scrape(client, auth), "eventscope_ingest_overloaded_total") == before + 1
