"""The fan-out: one hub per server process (per event loop) and one bounded buffer per connection.

A hub is the process's single member of the firehose group. Ingest publishes one ``live.batch`` per
request; the channel layer delivers it once per process (not once per websocket), and the hub
offers each item to the connections whose filter matches: their compiled pattern for ``/ws/live/``,
their trace id for ``/ws/traces/<id>/`` (a dictionary lookup, not a scan). An envelope or a span's
client form is built once per item, and its JSON text once, however many connections take it.

Each connection's buffer is bounded. When it is full the item is not kept; the number not kept is
queued in the buffer's place and sent as ``{"type": "dropped", "count": n}`` where those items
would have been, so received + reported-dropped = matched, in stream order. Daphne writes frames to
the socket without waiting for the client, so what fills a buffer is a burst larger than it that
arrives faster than the event loop can hand frames to the socket.

The channel layer may itself lose whole batches (channels-redis drops messages over a channel's
capacity and expires old ones, silently; the in-memory layer likewise). Each publisher numbers its
items, so a hub sees a gap and tells every connection, as dropped, how many items went missing
(there is no way to know which of them would have matched, so the count is an upper bound).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from channels.layers import BaseChannelLayer, get_channel_layer

from dashboard.live.groups import firehose_group
from dashboard.live.items import event_envelope, live_span, span_document
from dashboard.live.messages import LiveBatch
from dashboard.patterns import CompiledPattern

logger = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
KINDS = frozenset(("event", "span"))


class Subscription:
    """One connection's filter, bounded buffer and sender task.

    ``trace_id`` set: every item of that trace (``kinds`` and ``pattern`` still apply). The buffer
    holds at most ``capacity`` frames; an ``int`` in it is a run of dropped items.
    """

    def __init__(self, send: Send, capacity: int, trace_id: str | None = None) -> None:
        self.send = send
        self.capacity = capacity
        self.trace_id = trace_id
        self.pattern: CompiledPattern | None = None
        self.kinds: frozenset[str] = KINDS
        self.active = trace_id is not None  # a live tail starts delivering at its first subscribe
        # str: an item's frame; int: a run of dropped items; bytes: a control frame (never dropped).
        self._buffer: deque[str | int | bytes] = deque()
        self._frames = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Totals for this connection, kept for tests, benchmarks and the log.
        self.matched = 0
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def offer(self, frame: str) -> None:
        """Queue one matched item's frame, or count it dropped when the buffer is full."""
        self.matched += 1
        if self._frames < self.capacity:
            self._buffer.append(frame)
            self._frames += 1
        else:
            self.lose(1)
            return
        self._wake.set()

    def offer_control(self, frame: str) -> None:
        """Queue a frame that is not an item (``subscribed``): in stream order, never dropped."""
        self._buffer.append(frame.encode())
        self._wake.set()

    def lose(self, count: int) -> None:
        """Report ``count`` items as dropped at this point of the stream."""
        self.dropped += count
        if self._buffer and isinstance(self._buffer[-1], int):
            self._buffer[-1] += count
        else:
            self._buffer.append(count)
        self._wake.set()

    async def _drain(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._buffer:
                    entry = self._buffer.popleft()
                    if isinstance(entry, int):
                        await self.send(orjson.dumps({"type": "dropped", "count": entry}).decode())
                    elif isinstance(entry, bytes):
                        await self.send(entry.decode())
                    else:
                        self._frames -= 1
                        await self.send(entry)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone; its consumer's disconnect removes this subscription
            logger.warning("live: sending to a websocket failed", exc_info=True)


class Hub:
    """The firehose member of one event loop, fanning batches out to that loop's subscriptions."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer: BaseChannelLayer | None = None
        self.live: set[Subscription] = set()
        self.by_trace: dict[str, set[Subscription]] = {}
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # publisher id -> (events, spans) numbered so far: a jump is what the layer lost.
        self._seen: dict[str, tuple[int, int]] = {}
        # Connections of this loop that listen on other groups (replay progress): they make this
        # loop a place worth publishing to, but do not need the firehose.
        self.watchers = 0

    @property
    def subscribers(self) -> int:
        return len(self.live) + sum(len(subs) for subs in self.by_trace.values())

    async def add(self, sub: Subscription) -> None:
        async with self._lock:
            if sub.trace_id is None:
                self.live.add(sub)
            else:
                self.by_trace.setdefault(sub.trace_id, set()).add(sub)
            sub.start()
            if self._task is not None and self.layer is not get_channel_layer():
                await self._stop()  # the layer was replaced (a settings change): listen on the new one
            if self._task is None:
                await self._start()

    async def remove(self, sub: Subscription) -> None:
        async with self._lock:
            sub.stop()
            if sub.trace_id is None:
                self.live.discard(sub)
            else:
                subs = self.by_trace.get(sub.trace_id)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self.by_trace[sub.trace_id]
            if not self.subscribers and self._task is not None:
                await self._stop()

    async def _start(self) -> None:
        self.layer = get_channel_layer()
        assert self.layer is not None
        self._channel = await self.layer.new_channel()
        await self.layer.group_add(firehose_group(), self._channel)
        self._seen.clear()
        self._task = self.loop.create_task(self._receive())

    async def _stop(self) -> None:
        assert self._task is not None
        assert self.layer is not None
        assert self._channel is not None
        self._task.cancel()
        self._task = None
        try:
            await self.layer.group_discard(firehose_group(), self._channel)
        except Exception:  # the group entry expires on its own; leaving is a courtesy
            logger.warning("live: leaving the firehose group failed", exc_info=True)

    async def _receive(self) -> None:
        assert self.layer is not None
        assert self._channel is not None
        while True:
            try:
                message = await self.layer.receive(self._channel)
            except Exception:  # the layer is unreachable (Redis restarting): wait and go on
                logger.exception("live: receiving from the channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") != "live.batch":
                continue
            try:
                self.dispatch(message)  # type: ignore[arg-type]
            except Exception:  # one bad batch must not end the live tail for everyone
                logger.exception("live: dispatching a batch failed")

    def _account(self, batch: LiveBatch) -> None:
        origin = batch.get("origin")
        if origin is None:
            return
        events_at, spans_at = batch["offsets"]
        seen = self._seen.get(origin)
        if seen is not None:
            lost_events, lost_spans = events_at - seen[0], spans_at - seen[1]
            if lost_events > 0 or lost_spans > 0:
                logger.warning("live: the channel layer lost %d events and %d spans", lost_events, lost_spans)
                for sub in self._all():
                    lost = (lost_events if "event" in sub.kinds else 0) + (lost_spans if "span" in sub.kinds else 0)
                    if lost and sub.active:
                        sub.lose(lost)
        self._seen[origin] = (events_at + len(batch["events"]), spans_at + len(batch["spans"]))

    def _all(self) -> list[Subscription]:
        return [*self.live, *(sub for subs in self.by_trace.values() for sub in subs)]

    def dispatch(self, batch: LiveBatch) -> None:
        """Offer every item of ``batch`` to the subscriptions that match it."""
        self._account(batch)
        live = [sub for sub in self.live if sub.active]
        want_events = [sub for sub in live if "event" in sub.kinds]
        want_spans = [sub for sub in live if "span" in sub.kinds]
        by_trace = self.by_trace
        for item in batch["events"]:
            event = item["event"]
            traced = by_trace.get(event["trace_id"] or "") if by_trace else None
            if not want_events and not traced:
                continue
            frame: str | None = None
            envelope: dict[str, Any] | None = None
            verdicts: dict[str, bool] = {}  # equal patterns (same canonical source) are matched once
            for sub in (*want_events, *(s for s in traced or () if "event" in s.kinds)):
                if sub.pattern is not None:
                    verdict = verdicts.get(sub.pattern.source)
                    if verdict is None:
                        if envelope is None:
                            envelope = event_envelope(item)
                        verdict = verdicts[sub.pattern.source] = sub.pattern.matches(envelope)
                    if not verdict:
                        continue
                if frame is None:
                    frame = orjson.dumps({"type": "event", "event": event}).decode()
                sub.offer(frame)
        for raw in batch["spans"]:
            traced = by_trace.get(raw["trace_id"]) if by_trace else None
            if not want_spans and not traced:
                continue
            span = live_span(raw)
            frame = None
            document: dict[str, Any] | None = None
            verdicts = {}
            for sub in (*want_spans, *(s for s in traced or () if "span" in s.kinds)):
                if sub.pattern is not None:
                    verdict = verdicts.get(sub.pattern.source)
                    if verdict is None:
                        if document is None:
                            document = span_document(span, raw["attributes"])
                        verdict = verdicts[sub.pattern.source] = sub.pattern.matches(document)
                    if not verdict:
                        continue
                if frame is None:
                    frame = orjson.dumps({"type": "span", "span": span}).decode()
                sub.offer(frame)


# One hub per running event loop: daphne has one; tests may run several, one after another.
_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub_for_running_loop() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for other in [other for other in _hubs if other.is_closed()]:
            del _hubs[other]
        hub = _hubs[loop] = Hub(loop)
    return hub


def active_hubs(*, watchers: bool = False) -> list[Hub]:
    """Hubs with at least one subscription (or, with ``watchers``, any listening connection).
    Safe to call from any thread."""
    return [
        hub
        for hub in list(_hubs.values())
        if (hub.subscribers or (watchers and hub.watchers)) and not hub.loop.is_closed()
    ]
