"""The service map where people look: /map/ (drawn in a real browser from the demo shop), each event's
page (the lag to each consumer), the overview (the slowest hops)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from opentelemetry.trace import SpanKind
from playwright.sync_api import expect

from dashboard.events.models import Event
from tests.servicemap.otel import Services, publish
from tests.support.demo_shop import run_shop


@pytest.fixture
def shop(ops: Client, auth: dict[str, str]) -> Client:
    """orders publishes OrderPlaced; billing processes it twice (one failure), 150 ms and 2 s later."""
    ops.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    services = Services(ops)
    publisher = services.span("orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER)
    services.span("billing", "process OrderPlaced", 150, 160, links=[publisher], kind=SpanKind.CONSUMER, error=True)
    services.span("billing", "process OrderPlaced", 2000, 2010, links=[publisher], kind=SpanKind.CONSUMER)
    services.send()
    publish(ops, publisher, "OrderPlaced", 0, event_id="o-1")
    del ops.defaults["HTTP_AUTHORIZATION"]
    return ops


@pytest.mark.django_db
def test_the_map_page_needs_a_login_and_is_in_the_nav(client: Client, ops: Client) -> None:
    assert client.get("/map/").status_code == 302
    page = ops.get("/map/?range=6h").content.decode()
    assert 'href="/map/" aria-current="page">Map</a>' in page
    assert 'data-range="6h" aria-current="true"' in page
    assert 'id="map"' in page and "js/servicemap.js" in page
    assert 'data-range="1h"' in ops.get("/map/?range=bogus").content.decode().split('id="map-frame"', 1)[1][:80]


@pytest.mark.django_db
def test_an_event_page_shows_the_lag_to_each_consumer(shop: Client) -> None:
    event = Event.objects.get(event_id="o-1")
    page = shop.get(f"/events/{event.id}/").content.decode()
    section = page.split('id="consumers"', 1)[1].split("</section>", 1)[0]
    assert section.count('class="svc" data-service="billing"') == 2
    assert "150.000 ms" in section and "2000.000 ms" in section
    assert section.index("150.000 ms") < section.index("2000.000 ms")  # oldest first
    assert 'class="error-row"' in section


@pytest.mark.django_db
def test_an_event_nobody_processed_says_so(shop: Client, auth: dict[str, str]) -> None:
    services = Services(shop)
    shop.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    lonely = services.span("orders", "publish OrderShipped", 0, 1, kind=SpanKind.PRODUCER)
    services.send()
    publish(shop, lonely, "OrderShipped", 0, event_id="o-2")
    event = Event.objects.get(event_id="o-2")
    assert "No span has processed it yet" in shop.get(f"/events/{event.id}/").content.decode()


@pytest.mark.django_db
def test_the_overview_shows_the_slowest_hops(shop: Client, time_machine: Any) -> None:
    time_machine.move_to("2026-03-01T10:30:00Z")
    page = shop.get("/").content.decode()
    section = page.split('id="slowest-edges"', 1)[1].split("</section>", 1)[0]
    assert 'data-service="orders"' in section and 'data-service="billing"' in section
    assert "OrderPlaced" in section and "2084.3 ms" in section  # p95 of 150 ms and 2 s: 2 s, within 5%
    time_machine.move_to("2026-03-01T12:30:00Z")
    assert "No event was processed" in shop.get("/").content.decode()


@pytest.mark.usefixtures("transactional_db")
def test_the_map_draws_the_shop_and_an_edge_opens_its_events(page: Any, live_server_url: str, token: Any) -> None:
    run_shop(live_server_url, token.token, orders=3)
    page.goto("/map/?range=24h")
    page.wait_for_selector("#map .map-edge >> nth=2")
    nodes = sorted(page.eval_on_selector_all("#map .map-node", "nodes => nodes.map(n => n.dataset.service)"))
    assert nodes == ["billing", "inventory", "orders", "shipping"]
    edges = page.eval_on_selector_all(
        "#map .map-edge", "nodes => nodes.map(n => [n.dataset.kind, n.dataset.from, n.dataset.to, n.dataset.via])"
    )
    assert sorted(map(tuple, edges)) == [
        ("event", "billing", "inventory", "OrderPaid"),
        ("event", "inventory", "shipping", "StockReserved"),
        ("event", "orders", "billing", "OrderCreated"),
    ]
    # Left to right in the order the order flows.
    xs = {name: page.eval_on_selector(f'#map .map-node[data-service="{name}"] rect', "r => r.x.baseVal.value")
          for name in nodes}  # fmt: skip
    assert xs["orders"] < xs["billing"] < xs["inventory"] < xs["shipping"]
    assert "OrderCreated" in page.text_content('#map .map-edge[data-via="OrderCreated"] .edge-label')
    # When it was drawn, in the pages' one time format (UTC until local time is chosen).
    updated = page.locator("#map-status time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ UTC", updated.inner_text())
    assert updated.get_attribute("datetime").endswith("Z")

    page.click('#map .map-edge[data-via="OrderCreated"] .line', force=True)
    page.wait_for_selector("#edge-events tbody tr >> nth=2")
    assert "orders → billing" in page.text_content("#edge-title")
    rows = page.eval_on_selector_all("#edge-events tbody tr", "rows => rows.map(r => r.cells[2].textContent)")
    assert rows == ["OrderCreated"] * 3
    assert page.locator("#edge-traces a").count() == 3
    # In a phone-wide window the map and the tables scroll inside their cards, not the page.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#edge-links a")
    page.wait_for_url("**/events/?*")
    assert "detail_type=OrderCreated" in page.url and "source=shop.orders" in page.url
    listed = page.eval_on_selector_all("table.data tbody tr", "rows => rows.map(r => r.textContent)")
    assert len(listed) == 3 and all("OrderCreated" in row for row in listed)
    assert page.script_errors == []


@pytest.mark.usefixtures("transactional_db")
def test_the_map_switches_its_window_and_updates_while_open(page: Any, live_server_url: str, token: Any) -> None:
    run_shop(live_server_url, token.token, orders=2)
    page.goto("/map/")
    page.wait_for_selector("#map .map-edge >> nth=2")
    created = '#map-edges tbody tr:has(a:text-is("OrderCreated")) td:nth-child(5)'
    assert page.text_content(created) == "2"
    # Each service says its spans (and errors, when any): billing handled, charged and published each order.
    assert page.text_content('#map .map-node[data-service="billing"] .stats') == "6 spans"
    # The window switch: the map asks for the last 15 minutes, and says so in the address.
    with page.expect_request("**/api/servicemap?**") as asked:
        page.click('#map-ranges a[data-range="15m"]')
    params = parse_qs(urlsplit(asked.value.url).query)
    since, until = (datetime.fromisoformat(params[name][0]) for name in ("since", "until"))
    assert until - since == timedelta(minutes=15)
    assert page.get_attribute('#map-ranges a[data-range="15m"]', "aria-current") == "true"
    assert page.get_attribute('#map-ranges a[data-range="1h"]', "aria-current") is None
    assert page.url.endswith("/map/?range=15m")
    # While the page is open, new orders appear without a reload (it refreshes every few seconds).
    run_shop(live_server_url, token.token, orders=1, seed=2)
    expect(page.locator(created)).to_have_text("3", timeout=20_000)
    assert page.script_errors == []
