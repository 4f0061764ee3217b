"""The demo shop (``python manage.py demo`` / ``make demo``) against the real server: everything it sends
arrives correlated — events under their publishing spans, consumers linked back, keys on every event."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Max

from dashboard.core.models import ApiToken
from dashboard.demo.shop import Trouble
from dashboard.events.models import Event
from tests.support.demo_shop import run_shop
from tracing.models import Span, SpanLink

pytestmark = pytest.mark.usefixtures("transactional_db")
STEPS = ["OrderCreated", "OrderPaid", "StockReserved", "OrderShipped"]


def test_the_command_makes_its_own_token_and_sends_correlated_events_and_spans(live_server_url):
    out = io.StringIO()
    call_command("demo", url=live_server_url, orders=3, rate=0, seed=5, stdout=out)
    assert "orders=3" in out.getvalue()
    assert ApiToken.objects.filter(name="demo").count() == 1
    # A later run takes the same token again rather than making another.
    call_command("demo", url=live_server_url, orders=1, rate=0, seed=6, stdout=io.StringIO())
    assert ApiToken.objects.filter(name="demo").count() == 1
    events = list(Event.objects.all())
    assert {e.detail_type for e in events} <= set(STEPS) and "OrderCreated" in {e.detail_type for e in events}
    assert {e.format for e in events} == {"native", "cloudevents", "eventbridge"}
    for event in events:
        order_id = event.detail["data"]["order-id"]
        assert event.idempotency_key.startswith(order_id + "/")
        # Each event sits under the producer span that published it, in that span's trace.
        publisher = Span.objects.get(trace_id=event.trace_id, span_id=event.parent_span_id)
        assert publisher.name == f"publish {event.detail_type}"
        assert publisher.service == event.source.removeprefix("shop.")
    # Each consumer runs in its own trace, linked back to the producer span of what it consumed.
    for consumer in Span.objects.filter(name__startswith="process "):
        link = SpanLink.objects.get(trace_id=consumer.trace_id, span_id=consumer.span_id)
        producer = Span.objects.get(trace_id=link.linked_trace_id, span_id=link.linked_span_id)
        assert producer.name == "publish " + consumer.name.removeprefix("process ")
        assert producer.trace_id != consumer.trace_id


def test_every_kind_of_trouble_shows_up_in_the_data(live_server_url, token):
    shop = run_shop(live_server_url, token.token, orders=2, trouble=Trouble(1.0, 1.0, 1.0, 1.0, 0.0), seed=9)
    assert shop.stats.producer_retries == 2 and shop.stats.consumer_failures > 0
    # Duplicates: the same event id sent again is answered "duplicate" and stored once.
    assert shop.transport.counts["duplicate"] > 0
    assert Event.objects.values("source", "event_id").distinct().count() == Event.objects.count()
    # Producer retries: the same key on two event ids, from two traces.
    for order in {e.detail["data"]["order-id"] for e in Event.objects.all()}:
        created = list(Event.objects.filter(idempotency_key=f"{order}/create").order_by("id"))
        assert len(created) == 2 and created[0].event_id != created[1].event_id
        assert created[0].trace_id != created[1].trace_id
    # Failing consumer steps: error spans, each followed by a redelivery that succeeded.
    failed = Span.objects.filter(status_code=2, name__startswith="process ")
    assert failed.exists()
    for span in failed:
        link = SpanLink.objects.get(trace_id=span.trace_id, span_id=span.span_id)
        retried = SpanLink.objects.filter(linked_trace_id=link.linked_trace_id, linked_span_id=link.linked_span_id)
        assert retried.count() >= 2


def test_out_of_order_arrivals_reach_the_dashboard_after_the_next_step(live_server_url, token):
    run_shop(live_server_url, token.token, orders=2, trouble=Trouble(0, 0, 1.0, 0, 0))
    for created in Event.objects.filter(detail_type="OrderCreated"):
        order = created.detail["data"]["order-id"]
        (paid,) = [e for e in Event.objects.filter(detail_type="OrderPaid") if e.detail["data"]["order-id"] == order]
        assert created.id > paid.id  # stored ids are in arrival order
        assert created.time < paid.time  # though it happened first


def test_orders_that_never_ship_stop_before_order_shipped(live_server_url, token):
    shop = run_shop(live_server_url, token.token, orders=2, trouble=Trouble(0, 0, 0, 0, 1.0))
    assert shop.stats.unshipped == 2
    assert Event.objects.filter(detail_type="StockReserved").count() == 2
    assert not Event.objects.filter(detail_type="OrderShipped").exists()


def test_without_a_dashboard_the_command_says_so(capsys):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No dashboard answers"):
        call_command("demo", url="http://127.0.0.1:9", orders=1)


def test_orders_placed_faster_than_they_take_stay_near_the_real_clock(live_server_url: str) -> None:
    # `--rate 0`: orders as fast as the dashboard takes them. Each order's steps take about half a
    # second of simulated time and far less real time; had each order started where the last ended,
    # the twenty-fifth would be stamped some ten seconds ahead of the real clock.
    call_command("demo", url=live_server_url, orders=25, rate=0, seed=8, stdout=io.StringIO())
    ended = datetime.now(UTC)
    newest_event = Event.objects.aggregate(newest=Max("time"))["newest"]
    assert newest_event is not None and newest_event - ended < timedelta(seconds=3)
    newest_span_ns = Span.objects.aggregate(newest=Max("end_ns"))["newest"]
    assert newest_span_ns / 1e9 - ended.timestamp() < 3
