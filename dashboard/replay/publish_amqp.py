"""RabbitMQ (AMQP 0-9-1) targets through py-amqp: a delivery is a message published to the consumer's
exchange (``""``, the default exchange, routes by queue name), with the routing key of its options or
else the event's detail-type.

One connection and one channel in confirm mode per publisher. A list of messages is written in one go
(``mandatory``, so that a message no queue takes comes back), then the broker's answers are read until
each message is settled: ``basic.ack`` (one tag, or every tag up to it) is delivered, unless a
``basic.return`` came for it first (routed to no queue: nothing stored, so a retry, as a queue may be
bound later); ``basic.nack`` is a retry; so is every message still unsettled when the read timeout
passes or the connection or channel goes. py-amqp's ``basic_publish_confirm`` waits for each message
before writing the next, a round trip apiece; writing them all first is what gives thousands a second.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import amqp
from django.conf import settings

from dashboard.core.url_credentials import scrubbed
from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY, Outcome, refused
from dashboard.replay.publishers import Message
from dashboard.replay.targets import Resolver, Target, TargetRefused, TargetUnresolved, check_broker_url
from dashboard.taps.amqp_source import _frame_buffered, _read_ahead

# How long a checked URL is reused before it is checked again (the policy and the name's addresses),
# as for HTTP deliveries: at thousands of messages a second, a DNS query per list would show.
_RECHECK_SECONDS = 2.0
_ERROR_MAX = 300


class _Unavailable(Exception):
    """No connection or channel to publish on; the message says why (no password in it)."""


class _Batch:
    """The messages of one ``publish`` call and what the broker said of each so far."""

    def __init__(self, messages: list[Message], exchange: str, routing_keys: list[str]) -> None:
        self.messages = messages
        self.exchange = exchange
        self.routing_keys = routing_keys
        self.outcomes: list[Outcome | None] = [None] * len(messages)
        self.written_at = [0.0] * len(messages)
        self.unsettled: dict[int, int] = {}  # delivery tag -> index, in tag order
        self.returned: dict[int, str] = {}  # index -> why the broker gave it back

    def written(self, tag: int, index: int) -> None:
        self.written_at[index] = time.perf_counter()
        self.unsettled[tag] = index

    def sent_now(self) -> None:
        """The messages written so far left now (they were gathered for one write)."""
        now = time.perf_counter()
        self.written_at = [now if at else 0.0 for at in self.written_at]

    def settle(self, tag: int, multiple: bool, acked: bool) -> None:
        if multiple:
            tags = []
            for pending in self.unsettled:  # tags were written in increasing order
                if pending > tag:
                    break
                tags.append(pending)
        else:
            tags = [tag] if tag in self.unsettled else []
        now = time.perf_counter()
        for settled in tags:
            index = self.unsettled.pop(settled)
            latency = (now - self.written_at[index]) * 1000
            if not acked:
                error = "the broker refused the message (basic.nack): a queue it routes to is full or failing"
                self.outcomes[index] = Outcome(RETRY, None, latency, error)
            elif index in self.returned:
                self.outcomes[index] = Outcome(RETRY, None, latency, self.returned[index])
            else:
                self.outcomes[index] = Outcome(DELIVERED, None, latency)

    def give_back(self, routing_key: str, returned: amqp.Message) -> None:
        """A ``basic.return``: the unsettled message it is (the return comes before that message's
        ack; acks of other messages may come in any order, so it is found by what it carries)."""
        properties = getattr(returned, "properties", {}) or {}
        message_id = str(properties.get("message_id") or "")
        body = returned.body if isinstance(returned.body, bytes) else str(returned.body).encode()
        candidates = [
            index
            for index in self.unsettled.values()
            if index not in self.returned
            and self.routing_keys[index] == routing_key
            and self.messages[index].event_id == message_id
        ]
        exact = [index for index in candidates if self.messages[index].body == body]
        chosen = (exact or candidates)[:1]
        if not chosen:
            return
        if self.exchange:
            why = f"unroutable: exchange {self.exchange!r} routed it to no queue (routing key {routing_key!r})"
        else:
            why = f"unroutable: no queue named {routing_key!r} (the default exchange routes by queue name)"
        self.returned[chosen[0]] = why

    def finish(self, error: str) -> list[Outcome]:
        """Every outcome; a message the broker did not settle is a retry for ``error``."""
        now = time.perf_counter()
        return [
            outcome
            or Outcome(RETRY, None, (now - self.written_at[index]) * 1000 if self.written_at[index] else 0.0, error)
            for index, outcome in enumerate(self.outcomes)
        ]


class AmqpPublisher:
    """Publishes deliveries to one RabbitMQ consumer (see the module's docstring). Belongs to one
    thread; connects on the first ``publish`` and again on the one after a failure."""

    def __init__(self, url: str, options: dict[str, str], resolver: Resolver | None = None) -> None:
        self.url = url
        self.exchange = options.get("exchange") or ""
        self.routing_key = options.get("routing_key") or ""
        self.connection_name = f"eventscope replay {uuid.uuid4().hex[:12]}"
        self._resolver = resolver
        self._target: Target | None = None
        self._checked: tuple[float, tuple[tuple[str, ...], tuple[str, ...]]] = (0.0, ((), ()))
        self._connection: amqp.Connection | None = None
        self._channel: Any = None
        self._next_tag = 1
        self._batch: _Batch | None = None
        self._blocked = ""  # why the broker blocks publishing (low on memory or disk), while it does

    # --- publishing -------------------------------------------------------------------------------

    def publish(self, messages: list[Message]) -> list[Outcome]:
        if not messages:
            return []
        try:
            self._check(again=self._connection is None)
        except TargetRefused as err:
            self._drop_connection(politely=True)
            return [refused(err) for _ in messages]
        started = time.perf_counter()
        try:
            channel = self._ready_channel()
        except _Unavailable as err:
            latency = (time.perf_counter() - started) * 1000
            return [Outcome(RETRY, None, latency, str(err)) for _ in messages]
        keys = [self.routing_key or message.detail_type for message in messages]
        batch = self._batch = _Batch(messages, self.exchange, keys)
        assert self._connection is not None
        try:
            with _one_write(self._connection, batch):
                for index, message in enumerate(messages):
                    self._write(channel, batch, index, message)
            return self._await_confirms(batch)
        except (OSError, amqp.exceptions.AMQPError) as err:
            return batch.finish(self._failed(err))
        except BaseException:
            # Not the network's or the broker's doing: raised as it is, but the next call starts on a
            # new connection (the delivery tags of this one are no longer known to match).
            self._drop_connection()
            raise
        finally:
            self._batch = None

    def _write(self, channel: Any, batch: _Batch, index: int, message: Message) -> None:
        """Write one message (into the list's single write when there is one). One AMQP cannot carry
        (a routing key or id over 255 bytes) is permanent, and does not hold back the others."""
        key = batch.routing_keys[index]
        for what, text in (("exchange name", self.exchange), ("routing key", key), ("event id", message.event_id)):
            if len(text.encode("utf-8", "surrogatepass")) > 255:
                batch.outcomes[index] = Outcome(PERMANENT, None, 0.0, f"the {what} is longer than AMQP's 255 bytes")
                return
        properties: dict[str, Any] = {
            "content_type": "application/json",
            "delivery_mode": 2,  # persistent: kept on disk by a durable queue
            "application_headers": dict(message.headers),
        }
        if message.event_id:
            properties["message_id"] = message.event_id
        try:
            channel.basic_publish(
                amqp.Message(message.body, **properties), exchange=self.exchange, routing_key=key, mandatory=True
            )
        except (struct.error, ValueError, TypeError) as err:  # py-amqp could not encode it; nothing written
            error = f"the message cannot be encoded for AMQP: {err}"[:_ERROR_MAX]
            batch.outcomes[index] = Outcome(PERMANENT, None, 0.0, error)
            return
        batch.written(self._next_tag, index)
        self._next_tag += 1

    def _await_confirms(self, batch: _Batch) -> list[Outcome]:
        connection = self._connection
        assert connection is not None
        wait = float(settings.EVENTSCOPE_REPLAY_READ_TIMEOUT)
        deadline = time.monotonic() + wait
        while batch.unsettled:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not connection.connected:
                raise amqp.exceptions.RecoverableConnectionError("the connection closed")
            try:
                # A frame already read ahead is taken without setting the socket's timeout.
                connection.drain_events(timeout=None if _frame_buffered(connection) else left)
            except TimeoutError:
                break
        if batch.unsettled:
            # What the broker will still say of these is unknown, and a late ack must not settle a
            # message of the next list: start again on a new connection.
            why = f" (the broker blocks publishers: {self._blocked})" if self._blocked else ""
            self._drop_connection()
            return batch.finish(f"no confirmation from the broker within {wait:g} s{why}")
        return batch.finish("")

    # --- the broker's answers (py-amqp calls these while draining) -----------------------------------

    def _on_ack(self, tag: int, multiple: bool) -> None:
        if self._batch is not None:
            self._batch.settle(tag, multiple, acked=True)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        if self._batch is not None:
            self._batch.settle(tag, multiple, acked=False)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: amqp.Message) -> None:
        if self._batch is not None:
            self._batch.give_back(routing_key, message)

    def _on_blocked(self, reason: str) -> None:
        self._blocked = reason

    def _on_unblocked(self) -> None:
        self._blocked = ""

    # --- connection ---------------------------------------------------------------------------------

    def _check(self, *, again: bool) -> None:
        """Check the URL (the policy, and the host's addresses): before every connection (``again``),
        and while connected once ``_RECHECK_SECONDS`` passed or the allow/deny settings changed. The
        connection stays on the address checked when it was made; a URL now refused closes it."""
        fingerprint = (
            tuple(getattr(settings, "EVENTSCOPE_CONSUMER_ALLOW", ())),
            tuple(getattr(settings, "EVENTSCOPE_CONSUMER_DENY", ())),
        )
        now = time.monotonic()
        fresh = now - self._checked[0] < _RECHECK_SECONDS and self._checked[1] == fingerprint
        if self._target is not None and fresh and not again:
            return
        try:
            target = check_broker_url(self.url, resolver=self._resolver)
        except TargetUnresolved:
            if self._target is not None and self._connection is not None and not again:
                # A name that stops resolving for a moment (its DNS being restarted) does not end a
                # working connection to the address checked when it was made: nothing was refused.
                self._checked = (now, fingerprint)
                return
            self._target = None
            raise
        except TargetRefused:
            self._target = None
            raise
        self._target, self._checked = target, (now, fingerprint)

    def _ready_channel(self) -> Any:
        """The channel to publish on, connecting (to the checked address) and opening it if need be."""
        target = self._target
        assert target is not None
        where = f"{target.host}:{target.port}"
        if self._connection is not None and not self._connection_alive():
            self._drop_connection()
        if self._connection is None:
            self._connection = self._connect(target, where)
        if self._channel is None:
            try:
                with _bounded(self._connection):
                    channel = self._connection.channel()
                    channel.confirm_select()
            except (OSError, amqp.exceptions.AMQPError) as err:
                self._drop_connection()
                raise _Unavailable(
                    self._clean(f"the AMQP broker at {where} refused a channel: {_reason(err)}")
                ) from None
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._channel, self._next_tag = channel, 1
        return self._channel

    def _connect(self, target: Target, where: str) -> amqp.Connection:
        user, password, vhost = login(target.url)
        address = f"[{target.address}]" if ":" in target.address else target.address
        secure = target.scheme == "amqps"
        connection = amqp.Connection(
            host=f"{address}:{target.port}",  # the checked address: the name is not looked up again
            userid=user or "guest",
            password=password or "guest",
            virtual_host=vhost,
            # The certificate is checked against the URL's host name, not the address.
            ssl={"server_hostname": target.host} if secure else False,
            connect_timeout=settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT,
            write_timeout=settings.EVENTSCOPE_REPLAY_READ_TIMEOUT,
            # Idle between replays, it sends nothing: without heartbeats the broker keeps it open. A
            # connection that died meanwhile is found before the next list is written (_connection_alive).
            heartbeat=0,
            client_properties={"connection_name": self.connection_name},
            on_blocked=self._on_blocked,
            on_unblocked=self._on_unblocked,
        )
        try:
            connection.connect()
        except (OSError, amqp.exceptions.AMQPError) as err:
            with contextlib.suppress(Exception):  # whatever it opened
                connection.collect()
            shown = where if target.address == target.host else f"{where} ({target.address})"
            raise _Unavailable(self._clean(f"cannot connect to the AMQP broker at {shown}: {_reason(err)}")) from None
        _read_ahead(connection)
        # py-amqp polls the socket before every publish when the broker may send connection.blocked,
        # only to call on_blocked sooner; the notice is read with the confirms anyway, so once per
        # message is a waste (two system calls each).
        connection.client_properties.setdefault("capabilities", {})["connection.blocked"] = False
        self._blocked = ""
        return connection

    def _connection_alive(self) -> bool:
        """Whether the kept connection is still there: reads what the broker sent while it was idle
        (a close, from an operator or a broker restart), without waiting."""
        connection = self._connection
        if connection is None or not connection.connected:
            return False
        try:
            while True:
                connection.drain_events(timeout=0)
        except TimeoutError:
            pass
        except amqp.exceptions.ChannelError:
            # The broker closed the channel alone (py-amqp reopened it, without confirms).
            self._drop_channel()
        except (OSError, amqp.exceptions.AMQPError):
            return False
        if self._channel is not None and not self._channel.is_open:
            self._channel = None
        return bool(connection.connected)

    def _failed(self, err: BaseException) -> str:
        """The error text for ``err`` met while publishing; drops what it broke (the connection, or
        only the channel when the broker closed just that)."""
        target = self._target
        where = f"{target.host}:{target.port}" if target else "the broker"
        connection = self._connection
        if isinstance(err, amqp.exceptions.ChannelError) and connection is not None and connection.connected:
            # The broker closed the channel, not the connection (py-amqp reopened it, without
            # confirms): the next list gets a new one.
            self._drop_channel()
            if isinstance(err, amqp.exceptions.NotFound) and "no exchange" in str(err):
                return f"exchange {self.exchange!r} does not exist in vhost {login(self.url)[2]!r}"
            return self._clean(f"the AMQP broker at {where} closed the channel: {_reason(err)}")
        self._drop_connection()
        return self._clean(f"the AMQP connection to {where} was lost: {_reason(err)}")

    def _drop_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and self._connection is not None:
            with _bounded(self._connection), contextlib.suppress(Exception):
                channel.close()  # else each failed list would leave a channel open on the broker

    def _drop_connection(self, *, politely: bool = False) -> None:
        """Forget the connection. ``politely``: close it the AMQP way first (the broker answers, or
        the connect timeout passes); else only its socket is closed, which is all a connection that
        failed or stopped answering is owed (waiting on it again would only hold the thread)."""
        self._channel = None
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if politely:
            # Gone already, or not answering: then only the socket is left to release.
            with contextlib.suppress(Exception), _bounded(connection):
                connection.close()
                return
        with contextlib.suppress(Exception):
            # Without waiting: a TLS socket's unwrap would otherwise wait for the peer's close_notify.
            # (``transport`` only while connected: py-amqp connects again when it is read after.)
            sock = getattr(connection.transport, "sock", None) if connection.connected else None
            if sock is not None:
                sock.settimeout(0)
        with contextlib.suppress(Exception):
            connection.collect()

    def close(self) -> None:
        self._drop_connection(politely=True)

    def _clean(self, text: str) -> str:
        """``text`` without the password (a broker's or the OS's message could quote what it was given)."""
        return scrubbed(text, self.url)[:_ERROR_MAX]


def login(url: str) -> tuple[str, str, str]:
    """``(user, password, vhost)`` of an AMQP URL: the vhost is the path without its first ``/``,
    percent-decoded (``/%2F`` is ``/``), and ``/`` when the path is empty or just ``/``."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return unquote(parts.username or ""), unquote(parts.password or ""), unquote(path) or "/"


@contextlib.contextmanager
def _one_write(connection: amqp.Connection, batch: _Batch) -> Iterator[None]:
    """The frames py-amqp writes inside go out in one system call at the end, and only if nothing
    failed meanwhile (a list cut short by an error is not sent in part on a channel the broker closed).

    py-amqp writes each message with its own ``sendall``, and on loopback that call is most of a
    publish's cost. Its TCP transport keeps the socket's ``sendall`` as ``_write``, which is swapped
    for a list while the messages are written. TLS transports are left as they are.
    """
    transport = connection.transport
    if type(transport).__name__ != "TCPTransport" or getattr(transport, "_write", None) is None:
        yield
        return
    chunks: list[bytes] = []
    sendall = transport._write
    transport._write = lambda data: chunks.append(bytes(data))  # py-amqp reuses its buffer: copied
    try:
        yield
    finally:
        transport._write = sendall
    transport.write(b"".join(chunks))
    batch.sent_now()


@contextlib.contextmanager
def _bounded(connection: amqp.Connection) -> Iterator[None]:
    """Waits on ``connection`` (a channel opened or closed, the connection closed) limited to the
    connect timeout: a broker that stopped answering must not hold the thread."""
    sock = getattr(connection.transport, "sock", None) if connection.connected else None
    if sock is not None:
        sock.settimeout(settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT)
    try:
        yield
    finally:
        if sock is not None and connection.connected:
            with contextlib.suppress(OSError):
                sock.settimeout(None)


def _reason(err: BaseException) -> str:
    if isinstance(err, socket.timeout | TimeoutError):
        return "timed out"
    return str(err).strip() or type(err).__name__
