"""The NATS JetStream broker target: a delivery is a message on the consumer's ``subject``, with the
delivery's headers as NATS message headers, and counts once JetStream acknowledged storing it.

Publishing is pipelined: every message of a list is written with a reply subject of its own under one
inbox this publisher subscribes to, then the acks are awaited together; JetStream answers each one
with a PubAck (stored), an error (not stored: a full stream, a wrong expected stream…) or, when no
stream holds the subject, a "no responders" status. nats-py's own ``publish_async`` is not used: in
2.16 its reply handler raises instead of failing the message on an error ack, so a refused message
would only end in a timeout.

``Nats-Msg-Id`` is the delivery's own id (``Message.delivery_id``: one event to one consumer in one
replay): a message written again after an unknown outcome (a timeout, a lost connection) is dropped
by JetStream's duplicate window, and its ack, flagged duplicate, still counts: the stream holds that
very delivery. No other delivery shares the id, even into the same stream (two consumers whose
subjects one stream holds, two replays of one name).

The client is asyncio; the publisher owns an event loop and runs it on the calling thread for the
length of each call (on a helper thread when the caller already runs a loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from django.conf import settings
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import (
    BadHeaderError,
    BadSubjectError,
    ConnectionClosedError,
    MaxPayloadError,
    StaleConnectionError,
    UnexpectedEOF,
)

from dashboard.core.url_credentials import scrubbed, secrets_in
from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY, Outcome, refused
from dashboard.replay.publishers import Message
from dashboard.replay.targets import Resolver, Target, TargetRefused, check_broker_url
from dashboard.taps.nats_source import _reason, _run_loop

CLIENT_NAME = "eventscope replay"
_TLS_SCHEMES = ("tls",)
_CONNECTION_ENDED = (OSError, UnexpectedEOF, StaleConnectionError, ConnectionClosedError)


class _ConnectFailed(Exception):
    """Connecting did not work; the message (password-free) says why."""


class NatsPublisher:
    """Publishes deliveries to one JetStream subject; one per thread (see ``dashboard.replay.publishers``)."""

    def __init__(self, url: str, options: dict[str, str], resolver: Resolver | None = None) -> None:
        self.url = url
        self.subject = (options or {}).get("subject", "")
        self._resolver = resolver
        self._user, self._password = _credentials(url)
        self._secrets = secrets_in(url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: Client | None = None
        self._inbox = ""
        self._token = 0
        self._lost = ""  # why the connection went away, once it did
        self._trouble = ""  # the last error the server reported on a connection that stayed up
        # The list being published: reply token -> index, the outcomes so far, when each was written.
        self._waiting: dict[str, int] = {}
        self._outcomes: list[Outcome | None] = []
        self._written: list[float] = []
        self._answered: asyncio.Event | None = None
        self._writing = False

    # --- the blocking interface ---------------------------------------------------------------

    def publish(self, messages: list[Message]) -> list[Outcome]:
        if not messages:
            return []
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        try:
            outcomes: list[Outcome] = _run_loop(self._loop, self._publish(messages))
        except Exception as err:  # a bug or a client surprise: the messages may go again later
            self._drop_now()
            return [Outcome(RETRY, None, 0.0, self._scrub(f"NATS: {_reason(err)}")) for _ in messages]
        return outcomes

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            _run_loop(loop, self._shut_down())
        with contextlib.suppress(Exception):
            loop.close()

    # --- on the loop --------------------------------------------------------------------------

    async def _publish(self, messages: list[Message]) -> list[Outcome]:
        if not self.subject:
            return [Outcome(PERMANENT, None, 0.0, "the consumer has no 'subject' option") for _ in messages]
        if not await self._usable():
            await self._drop()
            try:
                target = check_broker_url(self.url, resolver=self._resolver)
            except TargetRefused as err:
                outcome = refused(err)
                return [replace(outcome, error=self._scrub(outcome.error)) for _ in messages]
            try:
                await self._connect(target)
            except _ConnectFailed as err:
                await self._drop()
                return [Outcome(RETRY, None, 0.0, str(err)) for _ in messages]
        connection = self._connection
        assert connection is not None
        self._outcomes = [None] * len(messages)
        self._written = [0.0] * len(messages)
        self._waiting = {}
        answered = self._answered = asyncio.Event()  # of this loop (close() may have replaced the loop)
        # An ack may come back while later messages are still being written: the list is answered
        # only once every message was written and every written one acked.
        self._writing = True
        try:
            await self._write(connection, messages)
        finally:
            self._writing = False
        if self._waiting and not (self._lost or self._trouble):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), float(settings.EVENTSCOPE_REPLAY_READ_TIMEOUT))
        return self._settle()

    async def _write(self, connection: Client, messages: list[Message]) -> None:
        """Every message written, each with its own reply subject; a message the server could never
        take is answered ``permanent`` here, and a connection that fails stops the writing."""
        for index, message in enumerate(messages):
            self._token += 1
            token = str(self._token)
            self._written[index] = time.perf_counter()
            try:
                headers = _headers(message)
                self._waiting[token] = index
                await connection.publish(self.subject, message.body, reply=self._inbox + token, headers=headers)
            except MaxPayloadError:
                self._waiting.pop(token, None)
                too_large = f"the message is {len(message.body)} bytes, more than the server takes"
                self._outcomes[index] = Outcome(PERMANENT, None, 0.0, f"{too_large} ({connection.max_payload})")
            except (_BadHeader, BadHeaderError) as err:
                self._waiting.pop(token, None)
                self._outcomes[index] = Outcome(PERMANENT, None, 0.0, str(err))
            except BadSubjectError:
                self._waiting.pop(token, None)
                self._outcomes[index] = Outcome(PERMANENT, None, 0.0, f"{self.subject!r} is not a NATS subject")
            except Exception as err:  # the connection went away while writing: the rest waits for the next call
                self._waiting.pop(token, None)
                self._lost = self._lost or _reason(err)
                return

    def _settle(self) -> list[Outcome]:
        """The outcomes of the list, the unanswered ones as retries; a connection that lost messages
        (gone, or acks that never came) is dropped so that the next call starts on a fresh one."""
        now = time.perf_counter()
        if self._lost:
            error = self._scrub(f"the NATS connection was lost: {self._lost}")
        elif self._trouble:
            error = self._scrub(f"NATS: {self._trouble}")
        else:
            # Also what a subject with core subscribers and no stream comes to: they get the message,
            # nobody stores it, and nobody answers.
            error = (
                f"no JetStream ack within {settings.EVENTSCOPE_REPLAY_READ_TIMEOUT} s "
                f"(is subject {self.subject!r} in a stream?)"
            )
        unanswered = False
        outcomes: list[Outcome] = []
        for index, outcome in enumerate(self._outcomes):
            if outcome is None:
                unanswered = True
                outcome = Outcome(RETRY, None, _ms(now - self._written[index]) if self._written[index] else 0.0, error)
            outcomes.append(outcome)
        self._waiting = {}
        if unanswered or self._lost or self._trouble:
            self._drop_later()
        return outcomes

    async def _reply(self, reply: Msg) -> None:
        index = self._waiting.pop(reply.subject[len(self._inbox) :], None)
        if index is None:
            return  # the ack of a list given up on (timed out)
        latency = _ms(time.perf_counter() - self._written[index])
        self._outcomes[index] = self._acked(reply, latency)
        if not self._waiting and not self._writing:
            self._wake()

    def _wake(self) -> None:
        if self._answered is not None:
            self._answered.set()

    def _acked(self, reply: Msg, latency: float) -> Outcome:
        status = (reply.headers or {}).get("Status", "")
        if status == "503" and not reply.data:
            return Outcome(RETRY, None, latency, f"no JetStream stream holds subject {self.subject!r}")
        try:
            answer = orjson.loads(reply.data)
        except orjson.JSONDecodeError:
            return Outcome(RETRY, None, latency, f"JetStream answered something that is not an ack (status {status})")
        error = answer.get("error") if isinstance(answer, dict) else None
        if error:
            description = error.get("description", "refused") if isinstance(error, dict) else str(error)
            code = f" (code {error.get('err_code', error.get('code'))})" if isinstance(error, dict) else ""
            return Outcome(RETRY, None, latency, f"JetStream did not store the message: {description}{code}")
        if not isinstance(answer, dict) or "stream" not in answer:
            return Outcome(RETRY, None, latency, "JetStream answered something that is not an ack")
        return Outcome(DELIVERED, None, latency)

    async def _usable(self) -> bool:
        """Whether the kept connection can take the list. A connection the server closed while this
        thread was not running the loop is noticed only once the loop runs: let its reader see the
        end of the socket first, rather than write a list into it."""
        connection = self._connection
        if connection is None:
            return False
        for _ in range(3):
            await asyncio.sleep(0)
        return not (self._lost or self._trouble or connection.is_closed or not connection.is_connected)

    async def _connect(self, target: Target) -> None:
        """Connect to the address ``target`` was checked at (not the name again: a DNS answer that
        changed since cannot move the connection), with the URL's credentials; TLS names the host."""
        timeout = int(settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT)
        host = f"[{target.address}]" if ":" in target.address else target.address
        where = f"{target.host}:{target.port}"
        self._lost = self._trouble = ""
        client = Client()
        connecting = True

        async def lost(*args: Any) -> None:
            self._lost = self._lost or self._trouble or "disconnected by the server"
            self._wake()

        async def error(err: Exception) -> None:
            # The end of the connection, or a refused publish (a permissions violation), which gets no
            # ack: either way, stop waiting for acks.
            if connecting:
                # nats-py tries a server that failed again (and again, with max_reconnect_attempts=0)
                # until the time runs out: one attempt is this call's, the next is the next call's.
                raise _ConnectFailed(_reason(err))
            if isinstance(err, _CONNECTION_ENDED):
                self._lost = self._lost or _reason(err)
            else:
                self._trouble = self._trouble or _reason(err)
            self._wake()

        credentials: dict[str, Any] = {}
        if self._user and self._password:
            credentials = {"user": self._tls_guard(client, target, self._user), "password": self._password}
        elif self._user:
            credentials = {"token": self._tls_guard(client, target, self._user)}
        try:
            # Reconnecting is this publisher's job (on the next call, after the URL is checked again),
            # not the client's; bounded here too, in case the client waits past its connect_timeout.
            await asyncio.wait_for(
                client.connect(
                    servers=[f"{target.scheme}://{host}:{target.port}"],
                    name=CLIENT_NAME,
                    connect_timeout=timeout,
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                    tls_hostname=target.host,
                    disconnected_cb=lost,
                    closed_cb=lost,
                    error_cb=error,
                    **credentials,
                ),
                2 * timeout,
            )
            connecting = False
            if target.scheme in _TLS_SCHEMES and not _tls_required(client):
                raise _ConnectFailed("the server does not use TLS, which a tls:// URL asks for")
            self._inbox = f"{client.new_inbox()}."
            await client.subscribe(f"{self._inbox}*", cb=self._reply, pending_msgs_limit=1_000_000)
        except Exception as err:
            self._connection = client  # so that _drop closes whatever was opened
            reason = str(err) if isinstance(err, _ConnectFailed) else _reason(err)
            raise _ConnectFailed(self._scrub(f"cannot connect to NATS at {where}: {reason}")) from None
        self._connection = client
        self._lost = self._trouble = ""

    def _tls_guard(self, client: Client, target: Target, value: str) -> Any:
        """``value`` as a credential callback: nats-py asks for it after deciding on TLS, so a tls://
        URL whose server turns out not to use TLS never sees the credentials in plain text."""

        def credential() -> str:
            if target.scheme in _TLS_SCHEMES and not _tls_required(client):
                raise _ConnectFailed("the server does not use TLS, which a tls:// URL asks for")
            return value

        return credential

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), float(settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT))

    async def _shut_down(self) -> None:
        """The connection closed and the client's own tasks ended, before the loop is closed."""
        await self._drop()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _drop_later(self) -> None:
        """Forget the connection (still on the loop): closed at the start of the next call."""
        self._lost = self._lost or "acks missing"

    def _drop_now(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(Exception):
                _run_loop(loop, self._drop())
        self._connection = None

    def _scrub(self, text: str) -> str:
        """``text`` without the URL's password, whichever way a message may quote it."""
        return scrubbed(text, self.url, self._secrets)


def _credentials(url: str) -> tuple[str, str]:
    """``(user, password)`` of ``url``, decoded; both empty for a URL too malformed to parse."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a password the URL does not quote)
    except ValueError:
        return "", ""
    return unquote(parts.username or ""), unquote(parts.password or "")


class _BadHeader(ValueError):
    pass


def _headers(message: Message) -> dict[str, str]:
    """The delivery's headers as the message's NATS headers, with ``Nats-Msg-Id``. A line break would
    end the header block early (the HTTP delivery's headers never carry one; refused, not sent)."""
    headers = dict(message.headers)
    if message.delivery_id:
        headers["Nats-Msg-Id"] = message.delivery_id
    for key, value in headers.items():
        if any(ch in key or ch in value for ch in "\r\n") or not key or ":" in key:
            raise _BadHeader(f"the header {key[:40]!r} cannot be a NATS header (a line break or colon)")
    return headers


def _tls_required(client: Client) -> bool:
    # nats-py upgrades to TLS only when the server's INFO asks for it, whatever the URL's scheme.
    return bool((client._server_info or {}).get("tls_required"))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
