"""The header's find box and ``/find/?q=``: one match opens its page, several are listed, none says
so inside the layout, bad input is explained there."""

from __future__ import annotations

from html import escape
from typing import Any

import orjson
import pytest
import requests
from django.test import Client

from tests.conftest import logged_in
from tests.pages.test_traces_search_page import resource_spans, send, span

pytestmark = pytest.mark.usefixtures("transactional_db")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}


def post(url: str, path: str, token: str, body: object) -> None:
    response = requests.post(
        f"{url}{path}",
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


def seed(url: str, token: str) -> None:
    post(url, "/api/lifecycles", token, ORDER)
    events = [
        {
            "source": "shop.orders",
            "detail-type": "OrderCreated",
            "detail": {"order-id": "o-2141000060", "metadata": {"idempotency-key": "idem-7f3a"}},
            "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
        }
    ]
    post(url, "/api/events", token, events)
    # A service named like a detail-type: the same text finds two things.
    send(url, token, [resource_spans("OrderCreated", [span(TRACE, "1" * 16, "create", 1000, 20)])])


def find_from_header(page: Any, text: str) -> None:
    page.fill("header.top form.find-box input[name=q]", text)
    page.press("header.top form.find-box input[name=q]", "Enter")
    page.wait_for_load_state("networkidle")


def test_pasting_an_id_key_or_order_lands_on_its_page(page, live_server_url, token):
    seed(live_server_url, token.token)
    page.goto("/events/")
    find_from_header(page, f"  {TRACE.upper()} ")
    assert page.url == f"{live_server_url}/traces/{TRACE}/"
    find_from_header(page, "idem-7f3a")
    assert page.url == f"{live_server_url}/keys/idem-7f3a/"
    find_from_header(page, "o-2141000060")
    assert page.url == f"{live_server_url}/transactions/order/o-2141000060/"
    assert "o-2141000060" in page.locator("h1").inner_text()
    assert page.script_errors == []


def test_several_matches_are_listed(page, live_server_url, token):
    seed(live_server_url, token.token)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/")
    find_from_header(page, "OrderCreated")
    assert page.url.endswith("/find/?q=OrderCreated")
    items = page.locator("#find-results li")
    assert items.count() == 2
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert items.nth(0).locator(".kind").text_content() == "Service"
    assert items.nth(0).locator("a").get_attribute("href") == "/traces/?service=OrderCreated"
    assert items.nth(1).locator(".kind").text_content() == "Detail type"
    items.nth(0).locator("a").click()
    page.wait_for_url("**/traces/?service=OrderCreated")
    assert page.input_value("#ts-service") == "OrderCreated"


def test_nothing_found_and_bad_input_stay_inside_the_layout(django_user_model, live_server_url, token):
    seed(live_server_url, token.token)
    client: Client = logged_in(django_user_model, "ops")
    html = client.get("/find/", {"q": "<b>no-such-thing</b>"}).content.decode()
    assert 'id="find-nothing"' in html and "&lt;b&gt;no-such-thing&lt;/b&gt;" in html and "<header" in html
    response = client.get("/find/", {"q": "x" * 600})
    assert response.status_code == 400
    assert 'id="find-error"' in response.content.decode() and escape("'q'") in response.content.decode()
    # An empty box shows the form only.
    response = client.get("/find/")
    assert response.status_code == 200 and 'id="find-form"' in response.content.decode()
    assert client.get("/find/", {"q": TRACE})["Location"] == f"/traces/{TRACE}/"


@pytest.mark.django_db
def test_it_needs_a_login(client: Client) -> None:
    response = client.get("/find/", {"q": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/traces/")["Location"].startswith("/login/")
