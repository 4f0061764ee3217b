"""NATS through nats-py: a JetStream durable consumer (``eventscope-tap-<name>``, pulling, explicit
acks) when a stream holds the subject, else a core subscription.

JetStream keeps what the tap has not acknowledged and delivers it again after a restart or a broker
outage; a core subscription cannot (core NATS keeps nothing), so what is published while the tap is
not connected is not seen. The client is asyncio; this source runs its own event loop on the tap's
thread and offers the same blocking calls as the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from dashboard.taps.addresses import split
from dashboard.taps.messages import TappedMessage
from dashboard.taps.source import CONNECT_TIMEOUT, BrokerError

GATHER_SECONDS = 0.02


def durable_name(tap: str) -> str:
    return f"eventscope-tap-{tap}"


class NatsSource:
    def __init__(self, name: str, url: str, options: dict[str, str]) -> None:
        self.name = name
        self.url = url
        self.address = split(url)
        self.subject = options["subject"]
        self.loop = asyncio.new_event_loop()
        self.connection: Any = None
        self.stream: str | None = None
        self.pull: Any = None
        self.core: Any = None
        self._queued: list[Msg] = []
        self._arrived = asyncio.Event()
        self._lost = ""

    def _run(self, work: Any) -> Any:
        try:
            return _run_loop(self.loop, work)
        except BrokerError:
            raise
        except Exception as err:
            if self._lost or self.connection is None or self.connection.is_closed:
                raise BrokerError(f"the NATS connection was lost: {self._lost or _reason(err)}") from None
            raise BrokerError(f"NATS: {_reason(err)}") from None

    def connect(self) -> None:
        self._run(self._connect())

    async def _connect(self) -> None:
        host = f"{self.address.host}:{self.address.port or 4222}"

        async def lost(*args: Any) -> None:
            self._lost = self._lost or "disconnected by the server"
            self._arrived.set()

        async def error(err: Exception) -> None:
            self._lost = self._lost or _reason(err)

        try:
            # Reconnecting is the tap's job (with backoff, state failing meanwhile), not the client's.
            # Bounded here too: nats-py may keep trying a refused address past its connect_timeout.
            self.connection = await asyncio.wait_for(
                nats.connect(
                    servers=[self.url],
                    name=f"eventscope tap {self.name}",
                    connect_timeout=CONNECT_TIMEOUT,
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                    disconnected_cb=lost,
                    closed_cb=lost,
                    error_cb=error,
                ),
                2 * CONNECT_TIMEOUT,
            )
        except Exception as err:
            reason = self._lost if isinstance(err, TimeoutError) and self._lost else _reason(err)
            raise BrokerError(f"cannot connect to NATS at {host}: {reason}") from None
        jetstream = self.connection.jetstream()
        try:
            self.stream = await jetstream.find_stream_name_by_subject(self.subject)
        except NotFoundError:
            self.stream = None
        except Exception:  # JetStream not enabled on this server: core subscription
            self.stream = None
        if self.stream is None:
            self.core = await self.connection.subscribe(self.subject, cb=self._arrive, pending_msgs_limit=100_000)
            return
        from django.conf import settings

        durable = durable_name(self.name)
        try:
            await jetstream.consumer_info(self.stream, durable)
        except NotFoundError:
            await jetstream.add_consumer(
                self.stream,
                ConsumerConfig(
                    durable_name=durable,
                    filter_subject=self.subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.NEW,
                    ack_wait=float(settings.EVENTSCOPE_TAP_ACK_WAIT_SECONDS),
                    max_ack_pending=20 * settings.EVENTSCOPE_TAP_BATCH,
                ),
            )
        self.pull = await jetstream.pull_subscribe_bind(durable=durable, stream=self.stream)

    async def _arrive(self, message: Msg) -> None:
        self._queued.append(message)
        self._arrived.set()

    def fetch(self, limit: int, wait: float) -> tuple[list[TappedMessage], list[Msg]]:
        got: list[Msg] = self._run(self._fetch(limit, wait))
        return [self._message(message) for message in got], got

    async def _fetch(self, limit: int, wait: float) -> list[Msg]:
        if self._lost or self.connection.is_closed:
            raise BrokerError(f"the NATS connection was lost: {self._lost or 'closed'}")
        if self.pull is not None:
            try:
                return list(await self.pull.fetch(batch=limit, timeout=wait))
            except (nats.errors.TimeoutError, TimeoutError):  # nothing within the wait
                if self._lost or self.connection.is_closed:
                    raise BrokerError(f"the NATS connection was lost: {self._lost or 'closed'}") from None
                return []
        if not self._queued:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait)
            if self._queued and len(self._queued) < limit:
                await asyncio.sleep(GATHER_SECONDS)
        if self._lost:
            raise BrokerError(f"the NATS connection was lost: {self._lost}")
        taken, self._queued = self._queued[:limit], self._queued[limit:]
        return taken

    def _message(self, message: Msg) -> TappedMessage:
        headers = dict(message.headers or {})
        message_id = headers.get("Nats-Msg-Id", "")
        if not message_id and self.stream is not None:
            # A message published without an id still has its place in the stream, which stays the
            # same when it is delivered again.
            message_id = f"{self.stream}:{message.metadata.sequence.stream}"
        return TappedMessage(
            body=message.data,
            subject=message.subject,
            message_id=message_id,
            headers=headers,
            content_type=headers.get("Content-Type", headers.get("content-type", "")),
        )

    def ack(self, receipt: list[Msg]) -> None:
        if self.pull is None or not receipt:
            return  # a core subscription has nothing to acknowledge
        self._run(self._ack(receipt))

    async def _ack(self, fetched: list[Msg]) -> None:
        for message in fetched:
            await message.ack()
        await self.connection.flush(timeout=CONNECT_TIMEOUT)

    def backlog(self) -> int | None:
        if self.pull is None:
            return None
        info = self._run(self.pull.consumer_info())
        return int(info.num_pending) + int(info.num_ack_pending)

    def remove(self) -> None:
        if self.stream is not None:
            self._run(self.connection.jetstream().delete_consumer(self.stream, durable_name(self.name)))

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                _run_loop(self.loop, asyncio.wait_for(connection.close(), CONNECT_TIMEOUT))
        with contextlib.suppress(Exception):
            self.loop.close()


def _run_loop(loop: asyncio.AbstractEventLoop, work: Any) -> Any:
    """``work`` run to completion on ``loop``. A thread that already runs an event loop (an async
    caller; a sync API driving its own loop) cannot run another, so the call then runs ``loop`` on a
    thread of its own and waits for it; the tap's own thread never runs one and takes the short way."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return loop.run_until_complete(work)
    with ThreadPoolExecutor(1, thread_name_prefix="nats-call") as pool:
        return pool.submit(loop.run_until_complete, work).result()


def _reason(err: BaseException) -> str:
    if isinstance(err, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    return str(err).strip() or type(err).__name__
