"""``/events/`` and ``/events/<id>/`` in a real browser: filters, patterns, paging, the JSON viewer."""

from __future__ import annotations

import orjson
import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.usefixtures("transactional_db")

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def send(url: str, token: str, events: list[dict]) -> list[str]:
    response = requests.post(
        f"{url}/api/events",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [result["id"] for result in response.json()["results"]]


def shop_events(n: int) -> list[dict]:
    return [
        {
            "source": "shop.orders" if i % 2 == 0 else "shop.billing",
            "detail-type": "OrderCreated" if i % 2 == 0 else "OrderPaid",
            "detail": {"data": {"order-id": f"o-{i}", "amount": i * 10}, "metadata": {"idempotency-key": f"k-{i}"}},
            "traceparent": f"00-{TRACE}-{i + 1:016x}-01",
        }
        for i in range(n)
    ]


def result_ids(page) -> list[str]:
    return page.locator("#results tbody tr td:first-child a").evaluate_all(
        "links => links.map(a => a.getAttribute('href').split('/')[2])"
    )


def test_the_form_filters_by_source_and_lists_newest_first(page, live_server_url, token):
    ids = send(live_server_url, token.token, shop_events(6))
    page.goto("/events/")
    page.fill("input[name=source]", "shop.billing")
    page.click("#event-search button[type=submit]")
    page.wait_for_url("**/events/?source=shop.billing*")
    assert result_ids(page) == [ids[5], ids[3], ids[1]]
    expect(page.locator("#results tbody")).not_to_contain_text("shop.orders")


def test_a_pattern_and_text_filter_narrow_the_results(page, live_server_url, token):
    ids = send(live_server_url, token.token, shop_events(6))
    page.goto("/events/")
    page.fill("textarea[name=pattern]", '{"detail": {"data": {"amount": [{"numeric": [">=", 30]}]}}}')
    page.click("#event-search button[type=submit]")
    page.wait_for_url(lambda url: "pattern=%7B" in url)  # the submitted search's results, not the page before
    assert result_ids(page) == [ids[5], ids[4], ids[3]]
    page.fill("#event-search input[name=q]", '"o-4"')
    page.click("#event-search button[type=submit]")
    page.wait_for_url(lambda url: "q=%22o-4%22" in url)
    assert result_ids(page) == [ids[4]]


def test_an_invalid_pattern_is_shown_as_an_error_not_an_empty_result(page):
    response = page.goto('/events/?pattern={"source": "not-a-list"}')
    assert response.status == 400
    expect(page.locator("#search-error")).to_contain_text("pattern")


def test_pages_go_back_in_time_through_the_cursor(page, live_server_url, token):
    ids = send(live_server_url, token.token, shop_events(5))
    page.goto("/events/?limit=2")
    assert result_ids(page) == [ids[4], ids[3]]
    page.click("#older")
    assert result_ids(page) == [ids[2], ids[1]]
    page.click("#older")
    assert result_ids(page) == [ids[0]]
    expect(page.locator("#older")).to_have_count(0)


def test_every_value_in_a_row_links_to_its_page_or_filter(page, live_server_url, token):
    (event_id,) = send(live_server_url, token.token, shop_events(1))
    page.goto("/events/")
    row = page.locator("#results tbody tr").first
    row.locator("a", has_text="OrderCreated").click()
    page.wait_for_url("**/events/?detail_type=OrderCreated")
    page.locator("#results tbody tr").first.locator("a", has_text="k-0").click()
    page.wait_for_url("**/keys/k-0/")
    page.goto("/events/")
    page.locator("#results tbody tr").first.locator("td").first.locator("a").click()
    page.wait_for_url(f"**/events/{event_id}/")


def test_the_event_page_shows_envelope_and_original_body_with_copy_buttons(page, live_server_url, token):
    (event_id,) = send(live_server_url, token.token, shop_events(1))
    page.goto(f"/events/{event_id}/")
    envelope = page.locator(".json-view").first
    expect(envelope).to_contain_text('"detail-type": "OrderCreated"')
    expect(page.locator(".json-view").nth(1)).to_contain_text('"traceparent"')
    # Collapse and expand a node.
    toggle = envelope.locator(".j-toggle").nth(1)
    toggle.click()
    expect(envelope).not_to_contain_text('"order-id"', use_inner_text=True)
    toggle.click()
    expect(envelope).to_contain_text('"order-id"', use_inner_text=True)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    envelope.locator("button.copy").click()
    expect(envelope.locator("button.copy")).to_have_text("Copied")
    expect(page.locator("#trace-link")).to_have_attribute("href", f"/traces/{TRACE}/#span-0000000000000001")
    expect(page.locator("#key-link")).to_have_attribute("href", "/keys/k-0/")
    assert page.script_errors == []


def test_the_json_viewer_shows_and_copies_large_numbers_exactly(page, live_server_url, token):
    event = {
        "source": "shop.ledger",
        "detail-type": "Posted",
        "detail": {"entry": 1234567890123456789, "cents": -9007199254740993},
    }
    (event_id,) = send(live_server_url, token.token, [event])
    page.goto(f"/events/{event_id}/")
    envelope = page.locator(".json-view").first
    # JSON.parse would show 1234567890123456800 and -9007199254740992
    # (in either order: PostgreSQL's jsonb keeps keys in its own order)
    numbers = envelope.locator(".j-num")
    expect(numbers).to_have_count(2)
    assert sorted(numbers.all_text_contents()) == ["-9007199254740993", "1234567890123456789"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    envelope.locator("button.copy").click()
    expect(envelope.locator("button.copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert '"entry": 1234567890123456789' in copied
    assert orjson.loads(copied)["detail"]["cents"] == -9007199254740993
    assert page.script_errors == []


def test_an_unknown_event_is_a_404(page):
    assert page.goto("/events/01ARZ3NDEKTSV4RRFFQ69G5FAV/").status == 404
