"""``/traces/<id>/`` in a real browser, on a flow made by the demo shop (real OTel SDK and ingest clients)."""

from __future__ import annotations

import re

import orjson
import pytest
import requests
from playwright.sync_api import expect

from dashboard.events.models import Event
from tests.support.demo_shop import run_shop
from tracing.models import Span

pytestmark = pytest.mark.usefixtures("transactional_db")


def open_trace(page, path: str) -> None:  # type: ignore[no-untyped-def]
    """Open a trace page and wait until it has settled: the live socket is up and the re-read of the
    trace it triggers has been drawn (rows may move then, so clicks wait for it)."""
    page.goto(path)
    expect(page.locator("#live-state")).to_have_text("live")
    page.wait_for_load_state("networkidle")


def test_the_waterfall_nests_spans_and_places_each_event_under_its_publisher(page, live_server_url, token):
    run_shop(live_server_url, token.token, orders=1)
    created = Event.objects.get(detail_type="OrderCreated")
    open_trace(page, f"/traces/{created.trace_id}/")
    publisher = page.locator(f"#span-{created.parent_span_id}")
    expect(publisher).to_contain_text("publish OrderCreated")
    # The event row follows its publishing span's row (and its link rows), one level deeper.
    event_row = page.locator(f"#event-{created.id}")
    expect(event_row).to_contain_text("OrderCreated")
    rows = page.locator(".wf-row.span, .wf-row.event").evaluate_all("rows => rows.map(r => r.id)")
    assert rows.index(f"event-{created.id}") > rows.index(f"span-{created.parent_span_id}")
    root = Span.objects.get(trace_id=created.trace_id, parent_span_id="")
    assert rows[0] == f"span-{root.span_id}"
    assert page.script_errors == []


def test_span_links_lead_to_the_consumer_trace_and_back(page, live_server_url, token):
    run_shop(live_server_url, token.token, orders=1)
    created = Event.objects.get(detail_type="OrderCreated")
    consumer = Span.objects.get(name="process OrderCreated")
    assert consumer.trace_id != created.trace_id
    # One trace alone: the links are rows that lead to the other trace.
    open_trace(page, f"/traces/{created.trace_id}/?flow=0")
    page.locator(".wf-row.link a", has_text="consumed by billing").click()
    page.wait_for_url(f"**/traces/{consumer.trace_id}/#span-{consumer.span_id}")
    expect(page.locator(f"#span-{consumer.span_id}")).to_have_class(re.compile(r"\btarget\b"))
    # And back: the consumer span follows from the producer span in the first trace.
    open_trace(page, f"/traces/{consumer.trace_id}/?flow=0")
    page.locator(".wf-row.link a", has_text="follows from orders").click()
    page.wait_for_url(f"**/traces/{created.trace_id}/#span-{created.parent_span_id}")
    expect(page.locator(f"#span-{created.parent_span_id}")).to_be_visible()
    # The linked-traces table names the consumer's trace too.
    expect(page.locator("#linked-traces")).to_contain_text(consumer.trace_id)
    assert page.script_errors == []


def test_the_whole_flow_hangs_each_consumer_trace_under_the_span_that_published_its_message(
    page, live_server_url, token
):
    run_shop(live_server_url, token.token, orders=1)
    created = Event.objects.get(detail_type="OrderCreated")
    billing = Span.objects.get(name="process OrderCreated")
    shipping = Span.objects.get(name="process StockReserved")
    open_trace(page, f"/traces/{created.trace_id}/")
    expect(page.locator("#whole-flow")).to_contain_text("4 traces")
    rows = page.locator(".wf-row.span").evaluate_all(
        "rows => rows.map(r => ({id: r.id, depth: parseInt(r.firstChild.style.paddingLeft), trace: r.dataset.traceId}))"
    )
    ids = [row["id"] for row in rows]
    depth = {row["id"]: row["depth"] for row in rows}
    publisher, consumer = f"span-{created.parent_span_id}", f"span-{billing.span_id}"
    # orders' publish span, then billing's consumer span (another trace) nested one level below it.
    assert ids.index(consumer) > ids.index(publisher) and depth[consumer] > depth[publisher]
    assert {row["trace"] for row in rows} == set(Span.objects.values_list("trace_id", flat=True))
    assert f"span-{shipping.span_id}" in ids
    # The hop's badge opens the consumer's own trace.
    page.locator(f"#{consumer} a.wf-hop").click()
    page.wait_for_url(f"**/traces/{billing.trace_id}/#span-{billing.span_id}")
    # Opened from the middle of the flow, the page still starts at the flow's origin.
    first = page.locator(".wf-row.span").first
    expect(first).to_have_attribute("data-trace-id", created.trace_id)
    assert page.script_errors == []


def test_clicking_a_span_shows_its_attributes(page, live_server_url, token):
    run_shop(live_server_url, token.token, orders=1)
    charge = Span.objects.get(name="charge card")
    open_trace(page, f"/traces/{charge.trace_id}/")
    page.locator(f"#span-{charge.span_id} .wf-name").click()
    detail = page.locator(".wf-detail")
    expect(detail).to_contain_text("payment.provider")
    expect(detail).to_contain_text("stripe-sim")
    expect(detail).to_contain_text("service.name")


def test_a_failed_step_is_marked_as_an_error(page, live_server_url, token):
    from dashboard.demo.shop import Trouble

    run_shop(live_server_url, token.token, orders=1, trouble=Trouble(0, 0, 0, 1.0, 0))
    failed = Span.objects.filter(status_code=2, name__startswith="process").first()
    assert failed is not None
    open_trace(page, f"/traces/{failed.trace_id}/")
    expect(page.locator(f"#span-{failed.span_id}")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator(f"#span-{failed.span_id} .wf-error")).to_have_text("error")


def test_traces_that_share_an_idempotency_key_are_linked(page, live_server_url, token):
    from dashboard.demo.shop import Trouble

    run_shop(live_server_url, token.token, orders=1, trouble=Trouble(1.0, 0, 0, 0, 0))
    first, retry = Event.objects.filter(detail_type="OrderCreated").order_by("id")
    assert first.idempotency_key == retry.idempotency_key and first.trace_id != retry.trace_id
    open_trace(page, f"/traces/{first.trace_id}/")
    row = page.locator("#linked-traces tr", has_text=retry.trace_id)
    expect(row).to_contain_text("shares an idempotency key")
    row.locator("a", has_text=retry.trace_id).click()
    page.wait_for_url(f"**/traces/{retry.trace_id}/")


def test_the_page_adds_spans_and_events_that_arrive_while_it_is_open(page, live_server_url, token):
    trace_id, parent = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    headers = {"Authorization": f"Bearer {token.token}", "Content-Type": "application/json"}
    open_trace(page, f"/traces/{trace_id}/")
    expect(page.locator("#live-state")).to_have_text("live")
    spans = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "late"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": parent,
                                "name": "arrives later",
                                "kind": 2,
                                "startTimeUnixNano": "1764300000000000000",
                                "endTimeUnixNano": "1764300000500000000",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    assert requests.post(f"{live_server_url}/v1/traces", data=orjson.dumps(spans), headers=headers, timeout=10).ok
    expect(page.locator(f"#span-{parent}")).to_contain_text("arrives later")
    event = {
        "source": "late.src",
        "detail-type": "LateEvent",
        "detail": {},
        "traceparent": f"00-{trace_id}-{parent}-01",
    }
    assert requests.post(f"{live_server_url}/api/events", data=orjson.dumps(event), headers=headers, timeout=10).ok
    expect(page.locator(".wf-row.event")).to_contain_text("LateEvent")
    assert page.script_errors == []


def test_a_malformed_trace_id_is_a_400_page(page):
    response = page.goto("/traces/not-a-trace/")
    assert response.status == 400
    expect(page.locator("main")).to_contain_text("32 hexadecimal characters")
