"""The Redis Streams broker target: a delivery is one stream entry (XADD), confirmed by the id Redis
answers. The entry's ``body`` field is the delivery's body, each delivery header is a field of its
own (CONTRACT §13: the same layout a tap reads).

One publish is one pipeline of XADDs (no transaction: an entry Redis refuses must not take the
others with it): every command written at once, then the answers read in order. The connection goes
to the address the target policy checked (``dashboard.replay.targets.check_broker_url``), checked
again on every (re)connect; ``rediss://`` wraps it in TLS with the URL's host name as the server
name, so certificates are checked against the name, not the address.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry
from redis.typing import EncodableT, FieldT

from dashboard.core.url_credentials import scrubbed
from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY, Outcome, refused
from dashboard.replay.publishers import Message
from dashboard.replay.targets import Resolver, TargetRefused, check_broker_url

BODY_FIELD = "body"


class _CheckedConnection(redis.Connection):
    """A redis-py connection whose socket goes to the address the target policy checked, the URL
    being checked again at every connect (a silent reconnect by the pool included), so that neither a
    changed DNS answer nor a policy change since the last connect can send it elsewhere. It notes
    when it last wrote, to time each confirmation from the write."""

    def __init__(self, *, target_url: str, resolver: Resolver | None, tls: bool, **kwargs: Any) -> None:
        self.target_url = target_url
        self.resolver = resolver
        self.tls = tls
        self.sent_at = 0.0
        super().__init__(**kwargs)

    def _connect(self) -> socket.socket:
        target = check_broker_url(self.target_url, resolver=self.resolver)  # TargetRefused goes up as is
        sock = socket.create_connection((target.address, target.port), timeout=self.socket_connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
            sock.settimeout(self.socket_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        super().send_packed_command(command, check_health)
        self.sent_at = time.monotonic()


class _ConfirmingPipeline(Pipeline):
    """A pipeline that keeps each answer with the time it was read, so that answers read before a
    connection broke still confirm their entries."""

    answers: list[tuple[float, Any]]
    sent_at: float

    def parse_response(self, connection: Any, command_name: Any, **options: Any) -> Any:
        self.sent_at = getattr(connection, "sent_at", 0.0)
        try:
            answer = super().parse_response(connection, command_name, **options)
        except redis.ResponseError as err:
            self.answers.append((time.monotonic(), err))
            raise
        self.answers.append((time.monotonic(), answer))
        return answer


class RedisPublisher:
    """Publishes deliveries to the stream named by the option ``stream`` of a ``redis://`` or
    ``rediss://`` URL (``redis://user:password@host:port/db``). Belongs to one thread; connects on the
    first publish and again on the publish after a connection failed."""

    def __init__(self, url: str, options: dict[str, str], resolver: Resolver | None = None) -> None:
        self.url = url
        self.stream = (options or {}).get("stream", "")
        self.resolver = resolver
        self._client: redis.Redis | None = None
        self._pool: redis.ConnectionPool | None = None
        try:
            parts = urlsplit(url)
            self._password = unquote(parts.password or "")
        except ValueError:  # a malformed URL: check_broker_url says so at the first publish
            self._password = ""

    # --- publishing --------------------------------------------------------------------------------

    def publish(self, messages: list[Message]) -> list[Outcome]:
        if not messages:
            return []
        if not self.stream:
            return [Outcome(PERMANENT, None, 0.0, "the consumer has no 'stream' option") for _ in messages]
        pipeline: _ConfirmingPipeline | None = None
        try:
            client = self._connected_client()
            pipeline = _ConfirmingPipeline(client.connection_pool, client.response_callbacks, False, None)
            pipeline.answers, pipeline.sent_at = [], 0.0
            for message in messages:
                pipeline.xadd(self.stream, self._fields(message))
            started = time.monotonic()
            pipeline.execute(raise_on_error=False)
            return self._outcomes(messages, pipeline, started, "")
        except TargetRefused as err:
            self._drop()
            outcome = refused(err)
            return [replace(outcome, error=self._clean(outcome.error)) for _ in messages]
        except redis.TimeoutError as err:
            self._drop()
            if pipeline is None or not pipeline.sent_at:  # no answer awaited yet: connecting or writing
                problem = f"Redis timed out before the entries were written ({err})"
            else:
                problem = f"Redis did not confirm within {settings.EVENTSCOPE_REPLAY_READ_TIMEOUT} s ({err})"
            return self._outcomes(messages, pipeline, time.monotonic(), problem)
        except redis.AuthenticationError as err:
            self._drop()
            return self._outcomes(messages, pipeline, time.monotonic(), f"Redis refused the login: {err}")
        except (redis.ConnectionError, OSError) as err:
            self._drop()
            return self._outcomes(messages, pipeline, time.monotonic(), f"Redis connection failed: {err}")
        except redis.RedisError as err:  # anything else the client raised: the connection is suspect
            self._drop()
            return self._outcomes(messages, pipeline, time.monotonic(), f"Redis error: {err}")

    def _fields(self, message: Message) -> dict[FieldT, EncodableT]:
        fields: dict[FieldT, EncodableT] = {BODY_FIELD: message.body}
        for name, value in message.headers.items():
            if name != BODY_FIELD:  # the body field is the body, whatever a header says
                fields[name] = value
        return fields

    def _outcomes(
        self, messages: list[Message], pipeline: _ConfirmingPipeline | None, started: float, problem: str
    ) -> list[Outcome]:
        """One outcome per message: an answer read is its confirmation (or Redis's refusal of that
        entry); a message without one gets ``problem`` (the connection broke before its answer)."""
        answers = pipeline.answers if pipeline is not None else []
        sent_at = (pipeline.sent_at if pipeline is not None else 0.0) or started
        outcomes = []
        for index, _ in enumerate(messages):
            if index >= len(answers):
                outcomes.append(Outcome(RETRY, None, 0.0, self._clean(problem or "Redis sent no answer")))
                continue
            confirmed_at, answer = answers[index]
            latency = max(0.0, (confirmed_at - sent_at) * 1000)
            if isinstance(answer, Exception):
                outcomes.append(Outcome(RETRY, None, latency, self._clean(self._refusal(answer))))
            else:
                entry_id = answer.decode() if isinstance(answer, bytes) else str(answer)
                outcomes.append(Outcome(DELIVERED, None, latency, response=entry_id))
        return outcomes

    def _refusal(self, error: Exception) -> str:
        text = str(error)
        if text.startswith("WRONGTYPE"):
            return f"Redis did not store the entry: the key {self.stream!r} holds another type, not a stream"
        return f"Redis did not store the entry: {text}"

    def _clean(self, text: str) -> str:
        """``text`` without the URL's password, in any spelling it may have been quoted in."""
        return scrubbed(text, self.url)

    # --- the connection ----------------------------------------------------------------------------

    def _connected_client(self) -> redis.Redis:
        if self._client is not None:
            return self._client
        target = check_broker_url(self.url, resolver=self.resolver)
        parts = urlsplit(self.url)
        database = parts.path.strip("/") or "0"
        if not database.isdecimal() or not database.isascii():
            raise TargetRefused(f"the database in the URL must be a number, not {database[:20]!r}")
        # No retries inside the client: a pipeline retried after a broken read would add its entries
        # twice. Retrying is the engine's business, where every attempt is recorded.
        self._pool = redis.ConnectionPool(
            connection_class=_CheckedConnection,
            max_connections=1,
            target_url=self.url,
            resolver=self.resolver,
            tls=target.scheme == "rediss",
            host=target.host,
            port=target.port,
            db=int(database),
            username=unquote(parts.username) if parts.username else None,
            password=self._password or None,
            socket_connect_timeout=settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT,
            socket_timeout=settings.EVENTSCOPE_REPLAY_READ_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            client_name="eventscope-replay",
        )
        self._client = redis.Redis(connection_pool=self._pool)
        return self._client

    def _drop(self) -> None:
        """Forget the connection; the next publish connects (and checks the URL) again."""
        pool, self._pool, self._client = self._pool, None, None
        if pool is not None:
            try:
                pool.disconnect()
            except Exception:  # already broken: nothing to close
                return

    def close(self) -> None:
        self._drop()
