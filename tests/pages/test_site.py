"""What every path shares, in-process: the time format, not-found answers, the favicon, the
pattern playground's answers, the admin's names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from django.test import Client

from dashboard.events.models import Event
from dashboard.pages.templatetags.eventscope import timetag, timetext
from dashboard.replay.models import Delivery


@pytest.fixture
def client(db: None, django_user_model) -> Client:
    django_user_model.objects.create_user("s", password="pw-s-1234567")
    c = Client()
    c.login(username="s", password="pw-s-1234567")
    return c


def test_timetag_writes_the_one_format_with_an_rfc3339_datetime():
    assert timetag(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == (
        '<time datetime="2026-01-02T03:04:05.678901Z">2026-01-02 03:04:05.678901 UTC</time>'
    )
    # Another zone is shown in UTC; whole seconds get a fraction too, as on every other row.
    plus_two = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert timetag(plus_two) == '<time datetime="2026-01-02T03:04:05.000000Z">2026-01-02 03:04:05.000000 UTC</time>'
    # API text keeps its fraction (nanoseconds for spans) and is moved to UTC.
    assert timetag("2026-01-02T03:04:05.123456789Z") == (
        '<time datetime="2026-01-02T03:04:05.123456789Z">2026-01-02 03:04:05.123456789 UTC</time>'
    )
    assert timetag("2026-01-02T04:04:05.5+01:00").startswith('<time datetime="2026-01-02T03:04:05.5Z">')
    assert timetag("soon <b>") == "soon &lt;b&gt;"
    assert timetag(None) == "" and timetag("") == ""


def test_timetext_writes_the_one_format_as_plain_text():
    assert timetext("2026-01-02T04:04:05.5+01:00") == "2026-01-02 03:04:05.5 UTC"
    assert timetext(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05.000000 UTC"
    assert timetext("soon") == "soon" and timetext(None) == ""


def test_unknown_page_paths_get_the_layout_and_api_paths_json(client):
    page = client.get("/no/such/page/")
    assert page.status_code == 404
    assert b'id="not-found-state"' in page.content and b'class="top"' in page.content
    api = client.get("/api/no-such-endpoint")
    assert api.status_code == 404
    assert api["Content-Type"].startswith("application/json")
    assert api.json()["error"]["code"] == "not_found"


def test_an_unknown_event_is_a_not_found_state_in_the_layout(client):
    response = client.get("/events/01NOPE/")
    assert response.status_code == 404
    assert b"No event with the id 01NOPE" in response.content and b'class="top"' in response.content


def test_the_favicon_is_answered_at_favicon_ico(client):
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
    assert b'rel="icon"' in client.get("/events/").content


def test_the_admin_spells_deliveries():
    assert Delivery._meta.verbose_name_plural == "deliveries"


def test_the_playground_says_why_a_pasted_event_does_not_match(client):
    pattern = orjson.dumps({"source": ["shop.orders"], "detail": {"status": ["paid"]}}).decode()
    event = orjson.dumps({"source": "shop.orders", "detail": {"status": "pending"}}).decode()
    response = client.post("/patterns/", {"pattern": pattern, "event": event, "recent": "5"})
    assert response.status_code == 200
    pasted = response.context["pasted"]
    assert pasted["match"] is False and pasted["why"].path == "detail.status"
    assert b"detail.status is &quot;pending&quot;" in response.content


def test_the_playground_refuses_an_invalid_pattern_or_event(client):
    response = client.post("/patterns/", {"pattern": '{"source": "x"}'})
    assert response.status_code == 400
    assert b"Invalid event pattern: source:" in response.content
    response = client.post("/patterns/", {"pattern": '{"source": ["x"]}', "event": "[1]"})
    assert response.status_code == 400
    assert b"must be a JSON object" in response.content


def test_the_playground_needs_a_login():
    assert Client().get("/patterns/").status_code == 302


def test_a_pattern_in_the_address_is_tried_on_recent_events_in_a_fixed_number_of_queries(
    client, token, django_assert_num_queries
):
    events = [
        {"source": "shop.orders" if i % 2 else "shop.billing", "detail-type": "T", "detail": {}} for i in range(30)
    ]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.token}"}
    assert (
        Client().post("/api/events", orjson.dumps(events), content_type="application/json", **auth).status_code == 200
    )
    assert Event.objects.count() == 30
    # The session, its user, and one query for the events, however many are tried.
    with django_assert_num_queries(3):
        response = client.get("/patterns/", {"pattern": '{"source": ["shop.orders"]}', "recent": "25"})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert len(rows) == 25 and response.context["matched"] == sum(1 for row in rows if row["match"])
    assert all(row["why"].path == "source" for row in rows if not row["match"])
