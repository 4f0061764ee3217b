"""The fan-out: one hub per server process (per event loop) and one bounded buffer per connection.

A hub is the process's single member of the live layer: of the firehose group while it has item
connections, and of ``replay.<id>`` while it has watchers of that replay. Ingest publishes one
``live.batch`` per request; the channel layer delivers it once per process (not once per
websocket), and the hub offers each item to the connections whose filter matches: their compiled
pattern for ``/ws/live/``, their trace id for ``/ws/traces/<id>/`` (a dictionary lookup, not a
scan). An envelope or a span's client form is built once per item, and its JSON text once, however
many connections take it. The sockets themselves have no channel of their own.

Each connection's buffer is bounded. When it is full the item is not kept; the number not kept is
queued in the buffer's place and sent as ``{"type": "dropped", "count": n}`` where those items
would have been, so received + reported-dropped = matched, in stream order. Daphne writes frames to
the socket without waiting for the client, so what fills a buffer is a burst larger than it that
arrives faster than the event loop can hand frames to the socket.

The channel layer may itself lose whole batches (channels-redis drops messages over a channel's
capacity and expires old ones, silently; the in-memory layer likewise). Each publisher numbers its
items, so a hub sees a gap and tells every connection, as dropped, how many items went missing
(there is no way to know which of them would have matched, so the count is an upper bound).

A layer that cannot be reached (Redis down) is said, never hidden: a connection that cannot join
gets ``LiveUnavailable`` (its consumer sends a ``live_unavailable`` error and closes with 4503), and
when the hub's receive fails every connection gets the same and the hub starts afresh with the
next one (a restarted Redis may have lost the group memberships, so nothing would arrive).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.exceptions
from channels.layers import BaseChannelLayer, get_channel_layer

from dashboard.core import metrics
from dashboard.live.groups import firehose_group, replay_group
from dashboard.live.items import event_envelope, live_span, span_document
from dashboard.live.messages import CLOSE_TRY_AGAIN_LATER, ErrorMessage, LiveBatch, ProgressMessage, ReplayProgress
from dashboard.patterns.engine import CompiledPattern

logger = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]
KINDS = frozenset(("event", "span"))
# How long joining the layer may take before the layer counts as unreachable (a host that drops
# packets, rather than refusing, would otherwise hold the handshake for the TCP timeout).
JOIN_TIMEOUT_SECONDS = 5.0


# What a channel layer raises when its server cannot be reached (refused, reset, timed out). Other
# errors are bugs and keep their traceback.
UNREACHABLE = (OSError, TimeoutError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# While the layer stays unreachable, how often the log says so again.
REMIND_SECONDS = 60.0


class _Outage:
    """The log of the layer's outages as the hubs see them: one warning line when joining or
    receiving starts failing (not a traceback per socket), a reminder at most every
    ``REMIND_SECONDS`` while it goes on, one line when the layer answers again."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.reminded = 0.0
        self.failures = 0

    def failed(self, err: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        if self.since is None:
            self.since = self.reminded = now
            logger.warning("live: the live layer cannot be reached (%s)", _describe(err))
        elif now - self.reminded >= REMIND_SECONDS:
            self.reminded = now
            logger.warning(
                "live: the live layer still cannot be reached after %.0f s: %d sockets refused or closed (%s)",
                now - self.since,
                self.failures,
                _describe(err),
            )

    def recovered(self) -> None:
        if self.since is not None:
            logger.info("live: the live layer answers again after %.0f s", time.monotonic() - self.since)
            self.since, self.failures = None, 0


def _describe(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


_outage = _Outage()


async def _answers(layer: BaseChannelLayer) -> bool:
    """Whether a channels-redis layer's (first) server answers a PING in time."""
    connection = getattr(layer, "connection", None)
    if connection is None:
        return True
    try:
        async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
            await connection(0).ping()
    except Exception:  # whatever it raises, it did not answer
        return False
    return True


class LiveUnavailable(Exception):
    """The channel layer cannot be reached: no live item can flow to this connection."""


def unavailable_frame() -> str:
    error: ErrorMessage = {
        "type": "error",
        "code": "live_unavailable",
        "message": "The live layer cannot be reached; reconnect later (recent events: GET /api/events?after=).",
    }
    return orjson.dumps(error).decode()


class Subscription:
    """One connection's filter, bounded buffer and sender task.

    ``trace_id`` set: every item of that trace (``kinds`` and ``pattern`` still apply).
    ``replay_id`` set: that replay's progress, and no items. The buffer holds at most ``capacity``
    item frames; an ``int`` in it is a run of dropped items. ``close`` ends the socket (see ``end``).
    """

    def __init__(
        self,
        send: Send,
        capacity: int,
        trace_id: str | None = None,
        *,
        replay_id: str | None = None,
        close: Close | None = None,
    ) -> None:
        self.send = send
        self.close = close
        self.capacity = capacity
        self.trace_id = trace_id
        self.replay_id = replay_id
        self.pattern: CompiledPattern | None = None
        self.kinds: frozenset[str] = KINDS
        self.active = trace_id is not None  # a live tail starts delivering at its first subscribe
        # str: an item's frame; int: a run of dropped items; bytes: a control frame (never dropped).
        self._buffer: deque[str | int | bytes] = deque()
        self._frames = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._close_code: int | None = None
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

    def end(self, frame: str, code: int) -> None:
        """Send ``frame`` after what is queued, then close the socket with ``code``."""
        self.offer_control(frame)
        self._close_code = code

    def lose(self, count: int) -> None:
        """Report ``count`` items as dropped at this point of the stream."""
        self.dropped += count
        metrics.LIVE_DROPPED.inc(count)
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
                if self._close_code is not None:
                    if self.close is not None:
                        await self.close(self._close_code)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone; its consumer's disconnect removes this subscription
            logger.warning("live: sending to a websocket failed", exc_info=True)


class Hub:
    """The live-layer member of one event loop, fanning messages out to that loop's subscriptions."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer: BaseChannelLayer | None = None
        self.live: set[Subscription] = set()
        self.by_trace: dict[str, set[Subscription]] = {}
        self.by_replay: dict[str, set[Subscription]] = {}
        self._channel: str | None = None
        self._groups: set[str] = set()  # the groups self._channel is a member of
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # publisher id -> (events, spans) numbered so far: a jump is what the layer lost.
        self._seen: dict[str, tuple[int, int]] = {}
        # Receives that timed out while the layer still answered (see _receive); for tests.
        self.read_timeouts = 0

    @property
    def subscribers(self) -> int:
        """Connections that take items (live tails and trace sockets)."""
        # list(): read from other threads too (active_hubs), while this loop may change the dict.
        return len(self.live) + sum(len(subs) for subs in list(self.by_trace.values()))

    @property
    def watchers(self) -> int:
        """Connections that take replay progress: they make this loop a place worth publishing
        progress to, but do not need the firehose."""
        return sum(len(subs) for subs in list(self.by_replay.values()))

    async def add(self, sub: Subscription) -> None:
        """Start feeding ``sub``; ``LiveUnavailable`` (and ``sub`` not kept) when the layer cannot
        be reached."""
        async with self._lock:
            self._register(sub)
            sub.start()
            try:
                async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                    await self._sync_groups()
            except Exception as err:
                self._unregister(sub)
                sub.stop()
                if isinstance(err, UNREACHABLE):
                    _outage.failed(err)
                else:
                    logger.exception("live: joining the live layer failed")
                raise LiveUnavailable(str(err)) from err
            _outage.recovered()

    async def remove(self, sub: Subscription) -> None:
        async with self._lock:
            sub.stop()
            self._unregister(sub)
            try:
                await self._sync_groups()
            except Exception as err:  # a group entry expires on its own; leaving is a courtesy
                logger.debug("live: leaving a group failed: %s", err)

    def _register(self, sub: Subscription) -> None:
        if sub.replay_id is not None:
            self.by_replay.setdefault(sub.replay_id, set()).add(sub)
        elif sub.trace_id is not None:
            self.by_trace.setdefault(sub.trace_id, set()).add(sub)
        else:
            self.live.add(sub)

    def _unregister(self, sub: Subscription) -> None:
        if sub.replay_id is None and sub.trace_id is None:
            self.live.discard(sub)
            return
        index, key = (self.by_replay, sub.replay_id) if sub.replay_id is not None else (self.by_trace, sub.trace_id)
        subs = index.get(key or "")
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del index[key or ""]

    def _wanted_groups(self) -> set[str]:
        groups = {replay_group(replay_id) for replay_id in self.by_replay}
        if self.live or self.by_trace:
            groups.add(firehose_group())
        return groups

    async def _sync_groups(self) -> None:
        """Make the hub's channel a member of exactly the groups its subscriptions need (none: no
        channel, no receiving task). Joins happen before the receiving task starts."""
        layer = get_channel_layer()
        if self._channel is not None and self.layer is not layer:
            await self._stop()  # the layer was replaced (a settings change): listen on the new one
        wanted = self._wanted_groups()
        if not wanted:
            if self._channel is not None:
                await self._stop()
            return
        if self._channel is None:
            assert layer is not None
            self.layer = layer
            self._channel = await layer.new_channel()
            self._seen.clear()
        assert self.layer is not None
        for group in sorted(wanted - self._groups):
            await self.layer.group_add(group, self._channel)
            self._groups.add(group)
        for group in sorted(self._groups - wanted):
            self._groups.discard(group)
            await self.layer.group_discard(group, self._channel)
        if self._task is None:
            self._task = self.loop.create_task(self._receive())

    async def _stop(self) -> None:
        layer, channel, groups = self.layer, self._channel, sorted(self._groups)
        if self._task is not None:
            self._task.cancel()
        self._task, self._channel, self.layer = None, None, None
        self._groups.clear()
        if layer is None or channel is None:
            return
        for group in groups:
            try:
                await layer.group_discard(group, channel)
            except Exception as err:  # the group entry expires on its own; leaving is a courtesy
                logger.debug("live: leaving %s failed: %s", group, err)

    async def _receive(self) -> None:
        layer, channel = self.layer, self._channel
        assert layer is not None
        assert channel is not None
        while True:
            try:
                message = await layer.receive(channel)
            except redis.exceptions.TimeoutError as err:
                # Usually nothing arrived: redis-py's read timeout (5 s by default) races
                # channels-redis's own 5 s BZPOPMIN, and loses on an idle channel. An outage only
                # if the server does not answer a PING either.
                if await _answers(layer):
                    self.read_timeouts += 1
                    continue
                await self._lost(err)
                return
            except UNREACHABLE as err:  # the layer went away (Redis stopped or restarted)
                await self._lost(err)
                return
            except Exception:  # not an outage (a message it could not decode, say): go on
                logger.exception("live: receiving from the channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            kind = message.get("type")
            try:
                if kind == "live.batch":
                    self.dispatch(message)  # type: ignore[arg-type]
                elif kind == "replay.progress":
                    self.progress(message)  # type: ignore[arg-type]
            except Exception:  # one bad message must not end the live tail for everyone
                logger.exception("live: dispatching a %s message failed", kind)

    async def _lost(self, err: Exception) -> None:
        """End every connection with ``live_unavailable``: they reconnect (and resume over HTTP)
        once the layer is back, and the next connection joins the groups afresh."""
        async with self._lock:
            if self._task is not asyncio.current_task():
                return  # stopped or restarted meanwhile
            ended = [*self._all(), *(sub for subs in self.by_replay.values() for sub in subs)]
            self.live.clear()
            self.by_trace.clear()
            self.by_replay.clear()
            self._task, self._channel, self.layer = None, None, None
            self._groups.clear()
        _outage.failed(err)
        frame = unavailable_frame()
        for sub in ended:
            sub.end(frame, CLOSE_TRY_AGAIN_LATER)

    def progress(self, message: ReplayProgress) -> None:
        """Hand a replay's state to the connections watching it."""
        watching = self.by_replay.get(str(message["replay"].get("id")))
        if not watching:
            return
        progress: ProgressMessage = {"type": "progress", "replay": message["replay"]}
        frame = orjson.dumps(progress).decode()
        for sub in watching:
            sub.offer_control(frame)

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
