"""RabbitMQ (AMQP 0-9-1) through py-amqp: the tap's own durable queue ``eventscope.tap.<name>``,
bound to the producers' exchange with the tap's binding key. The producers' exchange and their
consumers' queues are left as they are: each bound queue gets its own copy of a message, so the
existing consumers lose nothing. The queue outlives a stopped tap (messages wait there) and is
deleted with the tap."""

from __future__ import annotations

import socket
import time
from typing import Any

import amqp

from dashboard.taps.addresses import split
from dashboard.taps.messages import TappedMessage, amqp_headers
from dashboard.taps.source import CONNECT_TIMEOUT, BrokerError

# After the first message of a batch, how long to keep taking more.
GATHER_SECONDS = 0.02
READ_AHEAD = 16384  # bytes asked of the socket per read (see _read_ahead)


def queue_name(tap: str) -> str:
    return f"eventscope.tap.{tap}"


class AmqpSource:
    def __init__(self, name: str, url: str, options: dict[str, str]) -> None:
        self.name = name
        self.address = split(url)
        self.exchange = options["exchange"]
        self.binding_key = options["binding_key"]
        self.queue = queue_name(name)
        self.connection: amqp.Connection | None = None
        self.channel: Any = None
        self._received: list[amqp.Message] = []
        self._consuming = False

    def connect(self) -> None:
        address = self.address
        host = f"{address.host}:{address.port or (5671 if address.secure else 5672)}"
        try:
            connection = amqp.Connection(
                host=host,
                userid=address.username or "guest",
                password=address.password or "guest",
                virtual_host=address.path or "/",
                ssl=address.secure,
                connect_timeout=CONNECT_TIMEOUT,
                heartbeat=30,
                client_properties={"connection_name": f"eventscope tap {self.name}"},
            )
            connection.connect()
        except (OSError, amqp.exceptions.AMQPError) as err:
            raise BrokerError(f"cannot connect to the AMQP broker at {host}: {_reason(err)}") from None
        _read_ahead(connection)
        self.connection = connection
        try:
            channel = connection.channel()
            channel.queue_declare(self.queue, durable=True, auto_delete=False)
            channel.queue_bind(self.queue, self.exchange, self.binding_key)
        except amqp.exceptions.NotFound:
            self.close()
            raise BrokerError(
                f"the AMQP broker at {host} has no exchange {self.exchange!r} (vhost {address.path or '/'!r})"
            ) from None
        except (OSError, amqp.exceptions.AMQPError) as err:
            self.close()
            raise BrokerError(f"the AMQP broker at {host} refused the tap's queue: {_reason(err)}") from None
        self.channel = channel

    def _start_consuming(self) -> None:
        from django.conf import settings

        # Room for the batch being stored, the one being read and the next.
        self.channel.basic_qos(0, 3 * settings.EVENTSCOPE_TAP_BATCH, False)
        self.channel.basic_consume(self.queue, callback=self._received.append, no_ack=False)
        self._consuming = True

    def fetch(self, limit: int, wait: float) -> tuple[list[TappedMessage], int | None]:
        assert self.connection is not None
        if not self._consuming:
            self._start_consuming()
        deadline = time.monotonic() + wait
        gathering = False
        try:
            while len(self._received) < limit:
                if self._received and not gathering:
                    gathering, deadline = True, min(deadline, time.monotonic() + GATHER_SECONDS)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    # A frame already read ahead is taken without setting the socket's timeout (two
                    # system calls a frame otherwise).
                    self.connection.drain_events(timeout=None if _frame_buffered(self.connection) else left)
                except TimeoutError:
                    self.connection.heartbeat_tick()
                    break
            self.connection.heartbeat_tick()
        except (OSError, amqp.exceptions.AMQPError) as err:
            raise BrokerError(f"the AMQP connection was lost: {_reason(err)}") from None
        taken = self._received[:limit]
        del self._received[:limit]  # the same list: the consumer's callback appends to it
        last_tag = taken[-1].delivery_info["delivery_tag"] if taken else None
        return [_message(received) for received in taken], last_tag

    def ack(self, receipt: int | None) -> None:
        if receipt is None:
            return
        try:
            # Deliveries on a channel are numbered in order: one ack covers the whole batch (and
            # only it: the batches before it are acknowledged already).
            self.channel.basic_ack(receipt, multiple=True)
        except (OSError, amqp.exceptions.AMQPError) as err:
            raise BrokerError(f"the AMQP connection was lost: {_reason(err)}") from None

    def backlog(self) -> int | None:
        try:
            _, count, _ = self.channel.queue_declare(self.queue, passive=True)
        except (OSError, amqp.exceptions.AMQPError) as err:
            raise BrokerError(f"the AMQP connection was lost: {_reason(err)}") from None
        return int(count) + len(self._received)

    def remove(self) -> None:
        self.channel.queue_delete(self.queue)

    def unbind(self) -> None:
        """Remove the queue's binding of this source's exchange and binding key (the tap now reads
        another): the queue and what waits in it stay. Needs ``connect``."""
        self.channel.queue_unbind(self.queue, self.exchange, self.binding_key)

    def close(self) -> None:
        connection, self.connection = self.connection, None
        self._received.clear()
        self._consuming = False
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already gone: nothing to close
                connection.collect()


def _read_ahead(connection: amqp.Connection) -> None:
    """Let py-amqp's TCP transport take what the socket holds, not only the bytes it asks for.

    It reads a frame in three exact reads (header, payload, end), each a system call: three per
    frame, nine per message. Its own read buffer already keeps whatever a read brings beyond what
    was asked for, so asking the socket for up to ``READ_AHEAD`` bytes at a time is all it takes
    (a third of the tap's time went to those calls). TLS transports are left as they are.
    """
    transport = connection.transport
    sock = getattr(transport, "sock", None)
    if type(transport).__name__ == "TCPTransport" and sock is not None:
        recv = sock.recv
        transport._quick_recv = lambda wanted: recv(max(wanted, READ_AHEAD))


def _frame_buffered(connection: amqp.Connection) -> bool:
    """Whether the transport's read buffer holds a whole frame (7-byte header, payload, end byte)."""
    buffered = getattr(connection.transport, "_read_buffer", b"")
    return len(buffered) >= 7 and len(buffered) >= int.from_bytes(buffered[3:7], "big") + 8


def _message(received: amqp.Message) -> TappedMessage:
    properties = received.properties
    return TappedMessage(
        body=received.body if isinstance(received.body, bytes) else str(received.body).encode(),
        subject=received.delivery_info.get("routing_key", ""),
        message_id=str(properties.get("message_id") or ""),
        headers=amqp_headers(properties.get("application_headers") or {}),
        content_type=str(properties.get("content_type") or ""),
    )


def _reason(err: BaseException) -> str:
    if isinstance(err, socket.timeout | TimeoutError):
        return "timed out"
    return str(err).strip() or type(err).__name__
