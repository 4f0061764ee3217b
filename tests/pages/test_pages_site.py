"""In a real browser: the time switch, received times on the events list, not-found pages, the
favicon and the pattern playground."""

from __future__ import annotations

import re

import orjson
import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.usefixtures("transactional_db")

# A zone without summer time, so the expected offset never depends on the test's date.
ZONE = "Asia/Kolkata"


def send(url: str, token: str, events: list[dict]) -> list[str]:
    response = requests.post(
        f"{url}/api/events",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [result["id"] for result in response.json()["results"]]


def order(status: str, time: str = "2026-01-02T03:04:05Z", n: int = 1) -> dict:
    return {
        "source": "shop.orders",
        "detail-type": "OrderCreated",
        "time": time,
        "detail": {"order-id": f"o-{n}", "status": status},
    }


def test_times_are_utc_until_local_is_chosen_and_the_choice_is_remembered(page, live_server_url, token):
    [event_id] = send(live_server_url, token.token, [order("paid")])
    page.context.new_cdp_session(page).send("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
    page.goto(f"/events/{event_id}/")
    event_time = page.locator("dd time").first
    expect(event_time).to_have_attribute("datetime", "2026-01-02T03:04:05.000000Z")
    expect(event_time).to_have_text("2026-01-02 03:04:05.000000 UTC")
    expect(page.locator("#time-zone")).to_have_value("utc")

    page.select_option("#time-zone", "local")
    expect(event_time).to_have_text("2026-01-02 08:34:05.000000 +05:30")
    page.reload()
    expect(page.locator("#time-zone")).to_have_value("local")
    expect(page.locator("dd time").first).to_have_text("2026-01-02 08:34:05.000000 +05:30")
    # Every page: the events list too.
    page.goto("/events/")
    expect(page.locator("#results tbody td:nth-child(2) time").first).to_have_text(re.compile(r"\+05:30$"))

    # The overview's charts are drawn again in the chosen zone (once, not twice).
    page.goto("/")
    expect(page.locator("#event-rate svg")).to_have_count(1)
    page.select_option("#time-zone", "utc")
    expect(page.locator("#event-rate svg")).to_have_count(1)
    page.goto("/events/")
    expect(page.locator("#results time").first).to_have_text(re.compile(r" UTC$"))
    assert page.script_errors == []


def test_the_events_list_shows_received_time_beside_event_time(page, live_server_url, token):
    # Sent out of order: the older event arrives last, and the list (by arrival) says so.
    send(live_server_url, token.token, [order("paid", "2026-01-02T03:04:05Z", 1)])
    send(live_server_url, token.token, [order("paid", "2020-05-06T07:08:09Z", 2)])
    page.goto("/events/")
    expect(page.locator("#results thead th").nth(0)).to_have_text("Received")
    expect(page.locator("#results thead th").nth(1)).to_have_text("Event time")
    first = page.locator("#results tbody tr").first
    expect(first.locator("td").nth(1)).to_have_text("2020-05-06 07:08:09.000000 UTC")
    received = first.locator("td").nth(0).locator("time").get_attribute("datetime")
    assert received is not None and received > "2026-"  # stored now, after both event times
    # In a phone-wide window the list scrolls inside its card and the filters stack: the page does not
    # scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/events/01NOSUCHEVENT/", "No event with the id 01NOSUCHEVENT"),
        ("/keys/no-such-key/", "No stored event carried this key"),
        ("/no/such/page/", "No page at this address"),
        ("/traces/4bf92f3577b34da6a3ce929d0e0e4736/", "Nothing of this trace is stored yet"),
    ],
)
def test_unknown_ids_and_paths_are_not_found_inside_the_layout(page, path, says):
    response = page.goto(path)
    assert response is not None and response.status == 404
    expect(page.locator("header.top nav")).to_be_visible()
    expect(page.locator("main")).to_contain_text(says)
    assert page.script_errors == []


def test_the_favicon_is_linked_and_answered(page, live_server_url):
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href and href.endswith(".svg")
    for path in (href, "/favicon.ico"):
        response = page.request.get(f"{live_server_url}{path}")
        assert response.status == 200, path
        assert response.headers["content-type"].startswith("image/svg+xml")


def test_the_playground_reports_a_match_and_a_non_match_with_its_reason(page, live_server_url, token):
    send(live_server_url, token.token, [order("paid", n=1), order("pending", n=2)])
    page.goto("/")
    page.click("header.top nav >> text=Patterns")
    page.wait_for_url("**/patterns/")
    page.fill("#pattern", '{"source": ["shop.orders"], "detail": {"status": ["paid"]}}')
    expect(page.locator("#pattern-status")).to_have_text("Valid pattern.")
    page.fill("#event", '{"source": "shop.orders", "detail-type": "X", "detail": {"status": "paid"}}')
    page.click("#try")
    expect(page.locator("#pasted-result")).to_contain_text("Matches.")
    expect(page.locator("#recent-summary")).to_have_text("1 of 2 match the pattern")
    rows = page.locator("#recent-results tbody tr")
    expect(rows.nth(0).locator(".result")).to_have_text("no match")  # newest first: "pending"
    expect(rows.nth(0).locator(".why")).to_have_text('detail.status is "pending"; the pattern wants ["paid"]')
    expect(rows.nth(1).locator(".result")).to_have_text("match")

    page.fill("#event", '{"source": "shop.billing", "detail": {"status": "paid"}}')
    page.click("#try")
    expect(page.locator("#pasted-result")).to_contain_text("No match.")
    expect(page.locator("#pasted-result .why")).to_have_text(
        'source is "shop.billing"; the pattern wants ["shop.orders"]'
    )
    assert page.script_errors == []


def test_the_playground_checks_the_pattern_as_it_is_typed(page):
    page.goto("/patterns/")
    page.fill("#pattern", '{"source": "shop.orders"}')
    expect(page.locator("#pattern-status")).to_contain_text("Invalid event pattern")
    expect(page.locator("#pattern-status")).to_have_class(re.compile(r"\berror\b"))
    page.fill("#pattern", '{"source": [')
    expect(page.locator("#pattern-status")).to_contain_text("Not valid JSON")
    page.fill("#pattern", '{"source": ["shop.orders"]}')
    expect(page.locator("#pattern-status")).to_have_text("Valid pattern.")
    # Submitted anyway, an invalid pattern is said by the server too.
    page.fill("#pattern", '{"detail": {"n": [{"numeric": [">"]}]}}')
    response_status = []
    page.on("response", lambda r: response_status.append(r.status) if r.url.endswith("/patterns/") else None)
    page.click("#try")
    expect(page.locator("#pattern-status")).to_contain_text("Invalid event pattern: detail.n")
    assert 400 in response_status
