"""``/traces/<id>/`` in a real browser: the header counts, the events table and the transactions follow
the scope switch and update live; the span panel shows links both ways and recorded exceptions."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind
from playwright.sync_api import expect

from dashboard.demo.shop import LIFECYCLE
from dashboard.events.models import Event
from tests.pages.test_pages_trace import open_trace
from tests.support.demo_shop import run_shop
from tracing.models import Span

pytestmark = pytest.mark.usefixtures("transactional_db")

TRACE, SPAN = "6c2f5e0b4a9d43f1a7e1d0c3b5a69788", "a1b2c3d4e5f60718"


def post(url: str, token: str, path: str, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(f"{url}{path}", data=orjson.dumps(body), headers=headers, timeout=10)
    assert response.ok, response.text
    return response


def one_span(trace_id: str, span_id: str, name: str) -> dict[str, Any]:
    span = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
            "startTimeUnixNano": "1764300000000000000", "endTimeUnixNano": "1764300000500000000"}  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "late"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}


def event_on(trace_id: str, span_id: str, detail_type: str) -> dict[str, Any]:
    traceparent = f"00-{trace_id}-{span_id}-01"
    return {"source": "late.src", "detail-type": detail_type, "detail": {}, "traceparent": traceparent}


def test_the_header_and_the_events_table_count_what_arrives_live(page, live_server_url, token):
    post(live_server_url, token.token, "/v1/traces", one_span(TRACE, SPAN, "handle order"))
    post(live_server_url, token.token, "/api/events", event_on(TRACE, SPAN, "FirstEvent"))
    open_trace(page, f"/traces/{TRACE}/")
    expect(page.locator("#fact-events")).to_have_text("1")
    expect(page.locator("#trace-event-rows tr")).to_have_count(1)

    post(live_server_url, token.token, "/api/events", event_on(TRACE, SPAN, "LateEvent"))
    expect(page.locator("#fact-events")).to_have_text("2")
    row = page.locator("#trace-event-rows tr", has_text="LateEvent")
    expect(row).to_have_count(1)
    expect(page.locator("#fact-spans")).to_have_text("1")
    # In a phone-wide window the header wraps between facts, never between a name and its value
    # (the live redraw keeps the pairs too).
    page.set_viewport_size({"width": 390, "height": 844})
    split = page.evaluate(
        """() => [...document.querySelectorAll('#trace-facts dt')].filter(
             (dt) => Math.abs(dt.getBoundingClientRect().top - dt.nextElementSibling.getBoundingClientRect().top) > 8
           ).map((dt) => dt.textContent)"""
    )
    assert split == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    # Its time is a <time> in the pages' one format, and follows the UTC / local time switch.
    late = Event.objects.get(detail_type="LateEvent")
    time = row.locator("time")
    expect(time).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ UTC$"))
    assert time.get_attribute("datetime").startswith(late.time.strftime("%Y-%m-%dT%H:%M:%S"))
    page.select_option("#time-zone", "local")
    expect(time).to_have_text(re.compile(r"[+-]\d\d:\d\d$"))
    assert page.script_errors == []


def test_an_empty_trace_fills_in_live_banner_header_and_table(page, live_server_url, token):
    open_trace(page, f"/traces/{TRACE}/")
    expect(page.locator("#not-found")).to_be_visible()
    expect(page.locator("#trace-summary")).to_be_hidden()
    expect(page.locator("#trace-event-rows")).to_contain_text("No events carry")

    post(live_server_url, token.token, "/v1/traces", one_span(TRACE, SPAN, "arrives later"))
    expect(page.locator("#not-found")).to_be_hidden()
    expect(page.locator("#trace-summary")).to_be_visible()
    expect(page.locator("#fact-spans")).to_have_text("1")
    expect(page.locator("#fact-root")).to_contain_text("arrives later")
    post(live_server_url, token.token, "/api/events", event_on(TRACE, SPAN, "LateEvent"))
    expect(page.locator("#fact-events")).to_have_text("1")
    expect(page.locator("#trace-event-rows tr")).to_have_count(1)
    expect(page.locator("#trace-event-rows")).to_contain_text("LateEvent")
    assert page.script_errors == []


def test_the_scope_switch_changes_the_header_counts_and_the_events(page, live_server_url, token):
    run_shop(live_server_url, token.token, orders=1)
    created = Event.objects.get(detail_type="OrderCreated")
    here = created.trace_id
    open_trace(page, f"/traces/{here}/")
    # The whole flow: every trace of the order, every span and event.
    expect(page.locator("#whole-flow")).to_have_attribute("aria-current", "true")
    expect(page.locator("#fact-traces")).to_have_text("4")
    expect(page.locator("#fact-spans")).to_have_text(str(Span.objects.count()))
    expect(page.locator("#fact-events")).to_have_text(str(Event.objects.count()))
    expect(page.locator("#trace-event-rows tr")).to_have_count(Event.objects.count())
    expect(page.locator("#events-heading")).to_have_text("Events on this flow")

    page.locator("#this-trace").click()
    expect(page.locator("#this-trace")).to_have_attribute("aria-current", "true")
    expect(page).to_have_url(re.compile(r"\?flow=0$"))
    expect(page.locator("#fact-spans")).to_have_text(str(Span.objects.filter(trace_id=here).count()))
    expect(page.locator("#fact-events")).to_have_text(str(Event.objects.filter(trace_id=here).count()))
    expect(page.locator("#fact-traces")).to_have_count(0)
    expect(page.locator("#trace-event-rows tr")).to_have_count(Event.objects.filter(trace_id=here).count())
    expect(page.locator("#events-heading")).to_have_text("Events on this trace")
    assert page.locator(".wf-row.span").evaluate_all("rows => [...new Set(rows.map(r => r.dataset.traceId))]") == [here]

    page.locator("#whole-flow").click()
    expect(page.locator("#fact-spans")).to_have_text(str(Span.objects.count()))
    # Opened on one trace alone, the server renders the same counts the switch shows.
    page.goto(f"/traces/{here}/?flow=0")
    expect(page.locator("#fact-spans")).to_have_text(str(Span.objects.filter(trace_id=here).count()))
    assert page.script_errors == []


def test_the_transactions_box_links_each_key_to_its_transaction_page(page, live_server_url, token):
    post(live_server_url, token.token, "/api/lifecycles", LIFECYCLE)
    run_shop(live_server_url, token.token, orders=1)
    created = Event.objects.get(detail_type="OrderCreated")
    order = created.detail["data"]["order-id"]
    open_trace(page, f"/traces/{created.trace_id}/")
    row = page.locator("#transactions-rows tr", has_text=order)
    expect(row).to_contain_text("demo-order")
    expect(row.locator(".tx-status")).to_have_text("complete")
    # This trace alone still carries the order's first step.
    page.locator("#this-trace").click()
    expect(row).to_be_visible()
    # In a phone-wide window the tables scroll inside their cards: the page does not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    row.locator("a.tx-link").click()
    page.wait_for_url(f"**/transactions/demo-order/{order}/")
    expect(page.locator("#tx-status")).to_have_text("complete")
    assert page.script_errors == []


def test_the_span_panel_shows_links_both_ways_and_a_recorded_stack_trace(page, live_server_url, token):
    headers = {"Authorization": f"Bearer {token.token}"}
    exporter = OTLPSpanExporter(endpoint=f"{live_server_url}/v1/traces", headers=headers)
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("publish OrderCreated", kind=SpanKind.PRODUCER) as producer:
        pass
    # The consumer starts its own trace and links back to the producer's span; it fails.
    back = [Link(producer.get_span_context())]
    with tracer.start_as_current_span(
        "process OrderCreated", kind=SpanKind.CONSUMER, links=back, record_exception=False
    ) as consumer:
        try:
            {"cards": []}["card"]
        except KeyError as err:
            consumer.record_exception(err)
    provider.shutdown()
    producer_trace, producer_span = (format(producer.get_span_context().trace_id, "032x"),
                                     format(producer.get_span_context().span_id, "016x"))  # fmt: skip
    consumer_trace, consumer_span = (format(consumer.get_span_context().trace_id, "032x"),
                                     format(consumer.get_span_context().span_id, "016x"))  # fmt: skip

    open_trace(page, f"/traces/{consumer_trace}/?flow=0")
    page.locator(f"#span-{consumer_span} .wf-name").click()
    panel = page.locator(".wf-detail")
    stack = panel.locator("pre.stacktrace")
    expect(stack).to_contain_text("Traceback (most recent call last):")
    lines = stack.inner_text().splitlines()
    assert len(lines) >= 3 and lines[-1] == "KeyError: 'card'", lines
    expect(panel.locator(".ex-type")).to_have_text("KeyError")
    follows = panel.locator(".wf-links-out a")
    expect(follows).to_have_text("billing · publish OrderCreated")
    follows.click()
    # The producer's trace opens with its span selected: its panel names the consumer that links to it.
    page.wait_for_url(f"**/traces/{producer_trace}/#span-{producer_span}")
    expect(page.locator(f"#span-{producer_span}")).to_have_class(re.compile(r"\btarget\b"))
    linked = page.locator(".wf-detail .wf-links-in a")
    expect(linked).to_have_text("billing · process OrderCreated")
    assert linked.get_attribute("href") == f"/traces/{consumer_trace}/#span-{consumer_span}"
    assert page.script_errors == []


def test_a_transaction_s_status_changes_live_as_its_steps_arrive(page, live_server_url, token):
    steps = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}
    post(live_server_url, token.token, "/api/lifecycles", steps)
    created = {**event_on(TRACE, SPAN, "OrderCreated"), "detail": {"order-id": "o-7"}}
    post(live_server_url, token.token, "/api/events", created)
    open_trace(page, f"/traces/{TRACE}/")
    status = page.locator("#transactions-rows tr", has_text="o-7").locator(".tx-status")
    expect(status).to_have_text("in_progress")
    post(live_server_url, token.token, "/api/events", {**created, "detail-type": "OrderPaid"})
    expect(status).to_have_text("complete")
    expect(page.locator("#fact-events")).to_have_text("2")
    assert page.script_errors == []
