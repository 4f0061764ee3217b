"""The simulated shop: an order flows orders → billing → inventory → shipping over a message bus.

Each hop is asynchronous, as in a real event-driven system: the producer publishes an event from a
``publish <type>`` producer span, with the W3C trace context inside the event; the consumer handles
it in a **new trace** whose ``process <type>`` consumer span carries a span link back to the
producer span. Every event carries an idempotency key in ``detail.metadata.idempotency-key``.

Trouble, at the rates given in ``Trouble``: producer retries (the client re-sends ``POST /orders``
after a timeout — a new trace and a new event id under the same key, which the consumer recognises
and skips), duplicates (the same event id sent again — the dashboard answers ``duplicate``),
out-of-order arrivals (``OrderCreated`` reaches the dashboard after ``OrderPaid``), failing
consumer steps (an error span, then a redelivery that succeeds), and orders that never ship.

Span times come from a simulated clock that advances by realistic step durations, so the
waterfalls look like real traffic without the demo having to sleep through them. Each order starts
at the real time, as concurrent orders of a real shop do: an order's steps run at most its own
duration (about a second) ahead of the real clock, however fast orders are placed.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dashboard.demo.telemetry import Telemetry
from dashboard.demo.transport import Message, Transport

SERVICES = ["orders", "billing", "inventory", "shipping"]
LIFECYCLE = {
    "name": "demo-order",
    "key": "detail.data.order-id",
    "steps": ["OrderCreated", "OrderPaid", "StockReserved", "OrderShipped"],
    "timeout_seconds": 300,
}
PRODUCTS = [
    ("sku-mug", "Mug", 12.5),
    ("sku-tee", "T-shirt", 24.0),
    ("sku-cap", "Cap", 18.0),
    ("sku-book", "Field guide", 32.0),
    ("sku-lamp", "Desk lamp", 49.9),
]
_propagator = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class Trouble:
    """How often each kind of trouble happens, as fractions of orders (or of publishes)."""

    producer_retry: float = 0.05
    duplicate: float = 0.03
    out_of_order: float = 0.03
    consumer_failure: float = 0.02
    never_ship: float = 0.04


@dataclass
class Stats:
    orders: int = 0
    events: int = 0
    producer_retries: int = 0
    duplicates_sent: int = 0
    out_of_order: int = 0
    consumer_failures: int = 0
    unshipped: int = 0
    traces: set[str] = field(default_factory=set)


class Clock:
    """Simulated time in nanoseconds: never behind the real clock, advanced by each step's duration."""

    def __init__(self) -> None:
        self.ns = time.time_ns()
        self.latest = self.ns  # the latest time stamped so far, by any order

    def start(self) -> int:
        """A new order starts now: earlier orders' later steps may still be running, as they would
        in a real shop. (Starting where the last order ended instead put a demo placing orders
        faster than they take further ahead of the real clock with every order.)"""
        self.ns = time.time_ns()
        self.latest = max(self.latest, self.ns)
        return self.ns

    def sync(self) -> int:
        self.ns = max(self.ns, time.time_ns())
        self.latest = max(self.latest, self.ns)
        return self.ns

    def advance(self, low_ms: float, high_ms: float, rng: random.Random) -> int:
        self.ns += int(rng.uniform(low_ms, high_ms) * 1_000_000)
        self.latest = max(self.latest, self.ns)
        return self.ns

    def iso(self) -> str:
        seconds, fraction = divmod(self.ns, 1_000_000_000)
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp}.{fraction // 1000:06d}Z"


def traceparent_of(span: Span) -> str:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier["traceparent"]


def producer_link(message: Message) -> Link:
    """A span link to the span that published ``message``, read back from the event's traceparent."""
    ctx = _propagator.extract({"traceparent": message.traceparent})
    return Link(trace.get_current_span(ctx).get_span_context(), {"messaging.message.id": message.event_id})


class Shop:
    """Runs orders through the four services and publishes everything to the dashboard."""

    def __init__(self, telemetry: Telemetry, transport: Transport, rng: random.Random, trouble: Trouble) -> None:
        self.telemetry = telemetry
        self.transport = transport
        self.rng = rng
        self.trouble = trouble
        self.clock = Clock()
        self.stats = Stats()
        self.processed_keys: set[str] = set()  # the consumers' idempotency store
        self._serial = 0

    # --- spans and publishing -------------------------------------------------------------------

    def _span(
        self,
        service: str,
        name: str,
        kind: SpanKind,
        parent: Span | None = None,
        links: list[Link] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Span:
        # A parent of None starts a new trace: each hop of the flow is its own trace, tied by links.
        ctx = trace.set_span_in_context(parent) if parent is not None else otel_context.Context()
        span = self.telemetry.tracer(service).start_span(
            name, context=ctx, kind=kind, links=links or [], attributes=attributes or {}, start_time=self.clock.ns
        )
        self.stats.traces.add(format(span.get_span_context().trace_id, "032x"))
        return span

    def _end(self, span: Span, low_ms: float = 0.2, high_ms: float = 2.0) -> None:
        span.end(end_time=self.clock.advance(low_ms, high_ms, self.rng))

    def _fail(self, span: Span, error: Exception) -> None:
        span.record_exception(error, timestamp=self.clock.ns)
        span.set_status(Status(StatusCode.ERROR, str(error)))

    def _publish(
        self,
        service: str,
        parent: Span,
        detail_type: str,
        order_id: str,
        data: dict[str, Any],
        key: str,
        send: Callable[[Message], list[str]],
        hold: list[Callable[[], None]] | None = None,
    ) -> Message:
        """Publish from a producer span under ``parent``; ``hold`` defers the send (out of order)."""
        span = self._span(
            service,
            f"publish {detail_type}",
            SpanKind.PRODUCER,
            parent,
            attributes={
                "messaging.system": "eventscope-demo",
                "messaging.operation.type": "publish",
                "messaging.destination.name": detail_type,
                "shop.order_id": order_id,
                "idempotency.key": key,
            },
        )
        message = Message(
            source=f"shop.{service}",
            detail_type=detail_type,
            detail={"data": {"order-id": order_id, **data}, "metadata": {"idempotency-key": key}},
            event_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            time=self.clock.iso(),
            traceparent=traceparent_of(span),
            idempotency_key=key,
        )
        span.set_attribute("messaging.message.id", message.event_id)

        def deliver() -> None:
            message.sent.extend(send(message))
            self.stats.events += 1
            if self.rng.random() < self.trouble.duplicate:
                # The producer did not see the acknowledgement and sends the very same event again.
                send(message)
                self.stats.duplicates_sent += 1

        if hold is not None:
            hold.append(deliver)
        else:
            deliver()
        self._end(span, 0.5, 3)
        return message

    def _consume(self, service: str, message: Message, work: Callable[[Span], Message | None]) -> Message | None:
        """Handle ``message`` in a new trace linked to its producer; a failure is redelivered once."""
        attempts = 2 if self.rng.random() < self.trouble.consumer_failure else 1
        for attempt in range(1, attempts + 1):
            self.clock.advance(5, 60, self.rng)  # time on the queue
            span = self._span(
                service,
                f"process {message.detail_type}",
                SpanKind.CONSUMER,
                links=[producer_link(message)],
                attributes={
                    "messaging.operation.type": "process",
                    "messaging.message.id": message.event_id,
                    "messaging.delivery_attempt": attempt,
                    "idempotency.key": message.idempotency_key,
                },
            )
            if message.idempotency_key in self.processed_keys:
                span.set_attribute("shop.duplicate_skipped", True)
                self._end(span, 0.1, 0.6)
                return None
            if attempt < attempts:
                step = self._span(service, "handle", SpanKind.INTERNAL, span)
                self.clock.advance(2, 20, self.rng)
                error = TimeoutError(f"{service} dependency timed out after 2000 ms")
                self._fail(step, error)
                self._end(step)
                self._fail(span, error)
                self._end(span)
                self.stats.consumer_failures += 1
                continue
            out = work(span)
            self.processed_keys.add(message.idempotency_key)
            span.set_status(Status(StatusCode.OK))
            self._end(span, 0.2, 1.5)
            return out
        return None

    # --- the services ---------------------------------------------------------------------------

    def _order_request(
        self,
        order_id: str,
        items: list[dict[str, Any]],
        total: float,
        hold: list[Callable[[], None]] | None,
        retry: bool,
    ) -> Message:
        """orders: ``POST /orders`` — validate, store, publish OrderCreated (native JSON)."""
        self.clock.sync()
        server = self._span(
            "orders",
            "POST /orders",
            SpanKind.SERVER,
            attributes={
                "http.request.method": "POST",
                "url.path": "/orders",
                "http.response.status_code": 201,
                "shop.order_id": order_id,
                "shop.client_retry": retry,
            },
        )
        for step, low, high in (("validate order", 0.3, 2), ("INSERT orders", 1, 6)):
            child = self._span(
                "orders", step, SpanKind.CLIENT if step.startswith("INSERT") else SpanKind.INTERNAL, server
            )
            self.clock.advance(low, high, self.rng)
            self._end(child, 0, 0.2)
        message = self._publish(
            "orders",
            server,
            "OrderCreated",
            order_id,
            {"items": items, "total": total},
            f"{order_id}/create",
            self.transport.native,
            hold,
        )
        server.set_status(Status(StatusCode.OK))
        self._end(server, 0.2, 1)
        return message

    def _billing(self, created: Message) -> Message | None:
        def work(span: Span) -> Message:
            charge = self._span(
                "billing",
                "charge card",
                SpanKind.CLIENT,
                span,
                attributes={"payment.provider": "stripe-sim", "payment.amount": created.detail["data"]["total"]},
            )
            self.clock.advance(40, 250, self.rng)
            self._end(charge, 0, 0.5)
            binary = self.rng.random() < 0.5
            return self._publish(
                "billing",
                span,
                "OrderPaid",
                created.detail["data"]["order-id"],
                {"amount": created.detail["data"]["total"], "currency": "EUR"},
                f"{created.detail['data']['order-id']}/payment",
                lambda m: self.transport.cloudevent(m, binary),
            )

        return self._consume("billing", created, work)

    def _inventory(self, paid: Message, items: list[dict[str, Any]]) -> Message | None:
        def work(span: Span) -> Message:
            for item in items:
                reserve = self._span(
                    "inventory",
                    "reserve stock",
                    SpanKind.INTERNAL,
                    span,
                    attributes={"shop.sku": item["sku"], "shop.quantity": item["quantity"]},
                )
                self.clock.advance(2, 15, self.rng)
                self._end(reserve, 0, 0.3)
            return self._publish(
                "inventory",
                span,
                "StockReserved",
                paid.detail["data"]["order-id"],
                {"items": [i["sku"] for i in items], "warehouse": self.rng.choice(["ams-1", "fra-2"])},
                f"{paid.detail['data']['order-id']}/reserve",
                self.transport.put_events,
            )

        return self._consume("inventory", paid, work)

    def _shipping(self, reserved: Message) -> Message | None:
        order_id = reserved.detail["data"]["order-id"]
        if self.rng.random() < self.trouble.never_ship:

            def hold_back(span: Span) -> None:
                span.set_attribute("shop.shipment", "on hold: address verification pending")
                self.stats.unshipped += 1

            self._consume("shipping", reserved, lambda span: hold_back(span))
            return None

        def work(span: Span) -> Message:
            label = self._span("shipping", "create label", SpanKind.CLIENT, span, attributes={"carrier": "dhl-sim"})
            self.clock.advance(30, 180, self.rng)
            self._end(label, 0, 0.5)
            return self._publish(
                "shipping",
                span,
                "OrderShipped",
                order_id,
                {"carrier": "dhl-sim", "tracking": f"TRK{self.rng.randint(10**8, 10**9 - 1)}"},
                f"{order_id}/ship",
                self.transport.native,
            )

        return self._consume("shipping", reserved, work)

    def place_order(self) -> str:
        """One order, start to finish (or to wherever trouble stops it); returns the order id."""
        self._serial += 1
        order_id = f"o-{int(time.time()) % 100000:05d}{self._serial:05d}"
        chosen = self.rng.sample(PRODUCTS, self.rng.randint(1, 3))
        quantities = [self.rng.randint(1, 3) for _ in chosen]
        items: list[dict[str, Any]] = [
            {"sku": sku, "name": name, "quantity": quantity, "price": price}
            for (sku, name, price), quantity in zip(chosen, quantities, strict=True)
        ]
        total = round(sum(quantity * price for (_, _, price), quantity in zip(chosen, quantities, strict=True)), 2)
        self.stats.orders += 1
        self.clock.start()
        hold: list[Callable[[], None]] | None = [] if self.rng.random() < self.trouble.out_of_order else None
        created = self._order_request(order_id, items, total, hold, retry=False)
        if self.rng.random() < self.trouble.producer_retry:
            # The client timed out and retried: a new request, a new trace, the same idempotency key.
            self.clock.advance(200, 800, self.rng)
            retried = self._order_request(order_id, items, total, None, retry=True)
            self.stats.producer_retries += 1
        else:
            retried = None
        paid = self._billing(created)
        if retried is not None:
            self._billing(retried)  # recognised by its key and skipped
        if hold:
            # OrderCreated reaches the dashboard only now, after OrderPaid.
            for deliver in hold:
                deliver()
            self.stats.out_of_order += 1
        if paid is None:
            return order_id
        reserved = self._inventory(paid, items)
        if reserved is not None:
            self._shipping(reserved)
        return order_id
