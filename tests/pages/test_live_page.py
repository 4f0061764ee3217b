"""The ``/live/`` page in a real browser: new events appear without a reload; the filter works."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.usefixtures("transactional_db")


def _post(live_server_url: str, token: str, events: list[dict[str, Any]]) -> list[str]:
    response = requests.post(
        f"{live_server_url}/api/events", json=events, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200
    return [result["id"] for result in response.json()["results"]]


def test_a_new_event_appears_on_the_live_page_without_a_reload(page: Any, live_server_url: str, token: Any) -> None:
    page.goto("/live/")
    expect(page.locator("#live-state")).to_have_text("live")
    (event_id,) = _post(
        live_server_url,
        token.token,
        [{"source": "shop.orders", "detail-type": "OrderCreated", "detail": {"note": "<b>not markup</b>"},
          "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          "id": "evt-live-1"}],
    )  # fmt: skip
    row = page.locator(f"tr.live-event[data-id='{event_id}']")
    expect(row).to_be_visible()
    expect(row.get_by_role("link", name="OrderCreated")).to_have_attribute("href", f"/events/{event_id}/")
    expect(row.locator("a[href='/traces/4bf92f3577b34da6a3ce929d0e0e4736/']")).to_be_visible()
    expect(row).to_contain_text("<b>not markup</b>")  # payload shown as text, never as HTML
    assert page.script_errors == []


def test_the_pattern_editor_validates_and_filters(page: Any, live_server_url: str, token: Any) -> None:
    page.goto("/live/")
    expect(page.locator("#live-state")).to_have_text("live")
    page.fill("#live-pattern", '{"source": "not-a-list"}')
    expect(page.locator("#pattern-status")).to_contain_text("source")
    expect(page.locator("#pattern-status")).to_have_class("small error")
    page.fill("#live-pattern", '{"source": ["wanted"]}')
    expect(page.locator("#pattern-status")).to_have_text("Valid pattern.")
    page.uncheck("#kind-span")
    page.click("#apply")
    expect(page.locator("#pattern-status")).to_have_text("Filter applied.")
    unwanted, wanted = _post(
        live_server_url,
        token.token,
        [
            {"source": "unwanted", "detail-type": "Nope", "detail": {}},
            {"source": "wanted", "detail-type": "Yes", "detail": {}},
        ],
    )
    expect(page.locator(f"tr[data-id='{wanted}']")).to_have_count(1)
    expect(page.locator("tr.live-event")).to_have_count(1)
    expect(page.locator(f"tr[data-id='{unwanted}']")).to_have_count(0)
    assert page.script_errors == []


def test_pause_holds_items_and_resume_shows_them(page: Any, live_server_url: str, token: Any) -> None:
    page.goto("/live/")
    expect(page.locator("#live-state")).to_have_text("live")
    page.click("#pause")
    (held,) = _post(live_server_url, token.token, [{"source": "s", "detail-type": "Held", "detail": {}}])
    expect(page.locator("#held")).to_have_text("1")
    expect(page.locator(f"tr[data-id='{held}']")).to_have_count(0)
    page.click("#pause")
    expect(page.locator(f"tr[data-id='{held}']")).to_be_visible()
    expect(page.locator("#rate")).not_to_have_text("0")
    assert page.script_errors == []


def test_after_a_reconnect_the_page_shows_what_it_missed(page: Any, live_server_url: str, token: Any) -> None:
    # The page's socket goes through Playwright, so the test can cut it like a network drop would.
    connections: list[Any] = []
    missed: list[str] = []

    def through(socket: Any) -> None:
        if connections:
            # Stored while the page was disconnected: only the HTTP resume can show it.
            missed.extend(_post(live_server_url, token.token, [{"source": "s", "detail-type": "Missed", "detail": {}}]))
        socket.connect_to_server()
        connections.append(socket)

    page.route_web_socket("**/ws/live/", through)
    page.goto("/live/")
    expect(page.locator("#live-state")).to_have_text("live")
    (before,) = _post(live_server_url, token.token, [{"source": "s", "detail-type": "Before", "detail": {}}])
    expect(page.locator(f"tr[data-id='{before}']")).to_be_visible()
    connections[0].close(code=4000, reason="network drop")
    expect(page.locator("#live-state")).to_have_text("reconnecting…")
    expect(page.locator("#live-state")).to_have_text("live")
    (missed_id,) = missed
    expect(page.locator(f"tr[data-id='{missed_id}']")).to_be_visible()
    (after,) = _post(live_server_url, token.token, [{"source": "s", "detail-type": "After", "detail": {}}])
    expect(page.locator(f"tr[data-id='{after}']")).to_be_visible()
    expect(page.locator("tr.live-event")).to_have_count(3)  # each once, nothing doubled
    assert page.script_errors == []


def test_the_check_against_a_pinned_schema_version_shows_on_each_row(
    page: Any, live_server_url: str, token: Any
) -> None:
    headers = {"Authorization": f"Bearer {token.token}"}
    _post(live_server_url, token.token, [{"source": "shop", "detail-type": "Checked", "detail": {"amount": 1}}])
    (schema,) = requests.get(f"{live_server_url}/api/schemas", headers=headers, timeout=30).json()["results"]
    pinned = requests.post(
        f"{live_server_url}/api/schemas/{schema['id']}/pin", json={"version": 1}, headers=headers, timeout=30
    )
    assert pinned.status_code == 200, pinned.text
    page.goto("/live/")
    expect(page.locator("#live-state")).to_have_text("live")
    good, bad = _post(
        live_server_url,
        token.token,
        [
            {"source": "shop", "detail-type": "Checked", "detail": {"amount": 2}},
            {"source": "shop", "detail-type": "Checked", "detail": {"amount": "3"}},
        ],
    )
    expect(page.locator(f"tr[data-id='{good}'] .badge.schema-valid")).to_have_text("valid")
    invalid = page.locator(f"tr[data-id='{bad}']")
    expect(invalid).to_have_class("live-event schema-invalid-row")
    badge = invalid.locator(".badge.schema-invalid")
    expect(badge).to_have_text("invalid")
    expect(badge).to_have_attribute("title", "version 1: /amount: string, expected integer")
    assert page.script_errors == []
