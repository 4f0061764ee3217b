"""``/keys/<key>/`` in a real browser: every delivery of a key, retries, traces and outcomes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dashboard.demo.shop import Trouble
from dashboard.events.models import Event
from tests.support.demo_shop import run_shop
from tracing.models import Span

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_a_producer_retry_shows_as_a_second_delivery_in_another_trace(page, live_server_url, token):
    run_shop(live_server_url, token.token, orders=1, trouble=Trouble(1.0, 0, 0, 0, 0))
    first, retry = Event.objects.filter(detail_type="OrderCreated").order_by("id")
    page.goto(f"/events/{first.id}/")
    page.locator("#key-link").click()
    page.wait_for_url(f"**/keys/{first.idempotency_key.replace('/', '%2F')}/")
    expect(page.locator("#delivery-count")).to_have_text("2")
    expect(page.locator("#retry-count")).to_have_text("1")
    items = page.locator("#ledger > li")
    expect(items).to_have_count(2)
    expect(items.nth(0).locator(".kind")).to_have_text("original")
    expect(items.nth(1).locator(".kind")).to_have_text("retry")
    expect(items.nth(0)).to_contain_text(first.event_id)
    expect(items.nth(1)).to_contain_text(retry.event_id)
    # Outcomes: each delivery's consumer span, in billing's own trace; the retry was skipped as a duplicate.
    (skipped,) = [
        s for s in Span.objects.filter(name="process OrderCreated") if s.attributes.get("shop.duplicate_skipped")
    ]
    expect(items.nth(1).locator(".consumer")).to_contain_text("billing")
    items.nth(1).locator(".consumer a").click()
    page.wait_for_url(f"**/traces/{skipped.trace_id}/#span-{skipped.span_id}")


def test_a_failed_consumer_step_is_an_error_outcome(page, live_server_url, token):
    run_shop(live_server_url, token.token, orders=1, trouble=Trouble(0, 0, 0, 1.0, 0))
    created = Event.objects.get(detail_type="OrderCreated")
    page.goto(f"/keys/{created.idempotency_key}/")
    consumers = page.locator("#ledger > li").first.locator(".consumer")
    expect(consumers).to_have_count(2)  # the failed attempt, then the redelivery
    expect(consumers.nth(0).locator(".status")).to_have_text("error")
    expect(consumers.nth(1).locator(".status")).to_have_text("ok")


def test_an_unknown_key_is_a_404_page(page):
    assert page.goto("/keys/no-such-key/").status == 404
    expect(page.locator("main")).to_contain_text("No stored event carried this key")
