"""Publishing to the live layer: after commit, once per ingest request, from any thread.

Ingest knows nothing of it: live registers ``event_hooks`` (and tracing its span publisher) as an
after-commit observer of ingest (``dashboard.ingest.observers``).

The channel layer is async, and the in-memory one is not thread-safe, while ingest and task code run
on worker threads. So a publish only hands its message to an event loop (``call_soon_threadsafe``)
and returns; it never waits for the layer.

- Embedded mode (in-memory layer): the loop is the server's, where the hubs and the websockets are.
  With no subscriber in this process nobody can receive the message, so nothing is built or sent.
- ``REDIS_URL`` set (channels-redis): subscribers may be in any process, so a batch is always sent,
  from a loop on a daemon thread of this process (web server, Celery worker or script alike).

On each loop one task sends the queued messages in order, so the numbering a hub checks for gaps
(see ``dashboard.live.hub``) is the order the layer sees.

When the layer is unreachable (Redis down), ingest goes on and the live tail misses what it sends
meanwhile (a gap in this process's numbering: a hub that saw its earlier batches reports the missed
items as ``dropped`` once the layer is back). The log says so once, as
a WARNING, then at most once per ``REMINDER_SECONDS`` with the number of failed publishes, and at
INFO when a publish succeeds again: every ingest request publishes, so a line (or a traceback) per
failure would bury everything else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from dashboard.ingest.observers import EventHooks, StoredEvents
from dashboard.live.groups import firehose_group, replay_group
from dashboard.live.hub import active_hubs
from dashboard.live.items import wire_events
from dashboard.live.messages import LiveBatch, ReplayProgress, WireEvent, WireSpan

logger = logging.getLogger(__name__)

# The most items one merged layer message carries (see _Sender._run).
MERGE_LIMIT = 2000
# While publishing keeps failing, how often the log reminds of it.
REMINDER_SECONDS = 60.0


class _FailureLog:
    """Publishing failures, logged without flooding: the first failure is a WARNING, further ones
    are counted and reminded of at most every ``REMINDER_SECONDS``, and the first success after
    them is an INFO. Thread-safe; a success while nothing failed costs one attribute read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.failing = False
        self.failed = 0  # failures since the first one of this outage
        self.unreported = 0  # failures since the last line logged
        self.reported_at = 0.0

    def failure(self, what: str, error: BaseException) -> None:
        with self.lock:
            now = self.clock()
            self.failed += 1
            if not self.failing:
                self.failing, self.unreported, self.reported_at = True, 0, now
                # A connection error says all there is in one line; anything else may be a bug,
                # so its first occurrence keeps the traceback.
                logger.warning(
                    "live: %s failed; ingest goes on, the live tail misses items until it works again: %s",
                    what,
                    _describe(error),
                    exc_info=None if isinstance(error, OSError | RedisError) else error,
                )
                return
            self.unreported += 1
            if now - self.reported_at >= REMINDER_SECONDS:
                logger.warning(
                    "live: the live layer is still failing: %d publishes failed in the last %.0f s (%s)",
                    self.unreported,
                    now - self.reported_at,
                    _describe(error),
                )
                self.unreported, self.reported_at = 0, now

    def success(self) -> None:
        if not self.failing:
            return
        with self.lock:
            if self.failing:
                logger.info("live: publishing works again, after %d failed publishes", self.failed)
                self.failing, self.failed, self.unreported = False, 0, 0


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


_failures = _FailureLog()


class _Sender:
    """Sends queued layer messages from one event loop, one at a time, numbering live batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.origin = uuid.uuid4().hex
        self.events = 0
        self.spans = 0
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None

    def submit(self, group: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for ``group``; any thread."""
        self.loop.call_soon_threadsafe(self._enqueue, group, message)

    def _enqueue(self, group: str, message: dict[str, Any]) -> None:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.loop.create_task(self._run(self.queue))
        self.queue.put_nowait((group, message))

    async def _run(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        held: tuple[str, dict[str, Any]] | None = None
        while True:
            group, message = held or await queue.get()
            held = None
            layer = get_channel_layer()  # looked up each time: a settings change replaces it
            assert layer is not None
            if message.get("type") == "live.batch":
                # Batches that queued up while the last send was on its way go out as one message:
                # under load the layer sees fewer, larger messages instead of falling behind. Only
                # batches of the same kind merge (a hub offers a batch's events before its spans).
                while not queue.empty() and len(message["events"]) + len(message["spans"]) < MERGE_LIMIT:
                    following = queue.get_nowait()
                    batch = following[1]
                    if batch.get("type") != "live.batch" or _shape(batch) != _shape(message):
                        held = following
                        break
                    message["events"] = message["events"] + batch["events"]
                    message["spans"] = message["spans"] + batch["spans"]
                message["origin"] = self.origin
                message["offsets"] = [self.events, self.spans]
                self.events += len(message["events"])
                self.spans += len(message["spans"])
            await self._send(layer, group, message)

    @staticmethod
    async def _send(layer: Any, group: str, message: dict[str, Any]) -> None:
        try:
            await layer.group_send(group, message)
        except Exception as err:  # the layer is down: the live tail misses this, ingest goes on
            _failures.failure("publishing to the live layer", err)
        else:
            _failures.success()


def _shape(batch: dict[str, Any]) -> tuple[bool, bool]:
    return bool(batch["events"]), bool(batch["spans"])


_senders: dict[asyncio.AbstractEventLoop, _Sender] = {}
_senders_lock = threading.Lock()
_redis_loop: asyncio.AbstractEventLoop | None = None


def _sender_for(loop: asyncio.AbstractEventLoop) -> _Sender:
    with _senders_lock:
        sender = _senders.get(loop)
        if sender is None:
            for closed in [other for other in _senders if other.is_closed()]:
                del _senders[closed]
            sender = _senders[loop] = _Sender(loop)
        return sender


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """The loop of this process's publisher thread (started on first use)."""
    global _redis_loop
    with _senders_lock:
        if _redis_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-publisher", daemon=True).start()
            _redis_loop = loop
        return _redis_loop


def _targets(*, watchers: bool = False) -> list[_Sender]:
    if settings.REDIS_URL:
        return [_sender_for(_publisher_loop())]
    # One loop is enough: a group_send on the in-memory layer reaches every member in the process.
    # (A server has one loop; only tests run several, one after the other.)
    return [_sender_for(hub.loop) for hub in active_hubs(watchers=watchers)[:1]]


def live_wanted() -> bool:
    """Whether a published batch can reach anyone; cheap enough for every ingest request."""
    return bool(settings.REDIS_URL) or bool(active_hubs())


def publish_items(events: list[WireEvent], spans: list[WireSpan]) -> None:
    """Publish what one ingest request committed. Call only after the commit (an after-commit hook
    of ingest, see ``dashboard.ingest.observers``).

    Any thread; returns at once. Never raises: the live tail is best effort towards the layer and
    exact towards its subscribers (see ``dashboard.live.hub``).
    """
    if not events and not spans:
        return
    try:
        for sender in _targets():
            batch: LiveBatch = {"type": "live.batch", "events": events, "spans": spans}
            sender.submit(firehose_group(), dict(batch))
    except Exception as err:
        _failures.failure("handing a batch to the publisher", err)


def _publish_events(stored: StoredEvents) -> None:
    publish_items(wire_events(stored), [])


_PUBLISH_EVENTS = EventHooks(after_commit=_publish_events)


def event_hooks() -> EventHooks | None:
    """Ingest's events, published once per request after the commit (registered for
    ``dashboard.ingest.observers.EVENTS`` by ``LiveConfig.ready()``). A batch nobody can receive
    is sat out, so an unwatched ingest pays for nothing but this check."""
    return _PUBLISH_EVENTS if live_wanted() else None


def publish_replay_progress(replay_id: int | str, replay: dict[str, Any]) -> None:
    """Send a replay's state (as ``GET /api/replays/<id>`` shows it) to its ``/ws/replays/<id>/``
    watchers. Any thread, synchronous, returns at once; call it after the state is committed."""
    message: ReplayProgress = {"type": "replay.progress", "replay": replay}
    try:
        for sender in _targets(watchers=True):
            sender.submit(replay_group(replay_id), dict(message))
    except Exception as err:
        _failures.failure(f"handing progress of replay {replay_id} to the publisher", err)
