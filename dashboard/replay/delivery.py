"""Sending one delivery: the body and headers of docs/replay.md, over kept-alive HTTP connections.

A :class:`Sender` belongs to one thread (a replay's lane for one consumer) and keeps one connection
pool per checked target. Before every send the consumer's URL is checked again
(``dashboard.replay.targets``) and the request goes to the address that check resolved, with the
URL's host in ``Host`` (and as the TLS server name), redirects off and urllib3's own retries off:
retrying is the engine's business, so that every attempt is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import orjson
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError as TransportError

from dashboard.core.nul import replace_nul
from dashboard.core.numbers import whole_number
from dashboard.core.url_credentials import scrubbed
from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY, Outcome, refused
from dashboard.replay.publishers import PIPELINE, Message, Publisher, broker_kind, open_publisher
from dashboard.replay.targets import Resolver, Target, TargetRefused, check_url

__all__ = ["DELIVERED", "PERMANENT", "RETRY", "Message", "Outcome", "Sender", "delivery_body", "delivery_headers"]

logger = logging.getLogger(__name__)
USER_AGENT = "Eventscope-Replay/1"
# How long a resolved target is reused before the name is looked up again. The policy itself is
# applied on every send; this only spares a DNS query per event at thousands of events a second.
_RESOLVE_TTL = 2.0
_ERROR_BODY = 300


def delivery_body(envelope: dict[str, Any], replay_name: str) -> bytes:
    """The canonical envelope with the replay's name beside it, as JSON bytes."""
    return orjson.dumps({**envelope, "replay-name": replay_name})


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body keyed by secret>``: X-Eventscope-Signature's value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    *, replay_name: str, event_id: str, idempotency_key: str, secret: str, body: bytes
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Eventscope-Replay": header_text(replay_name),
        "X-Eventscope-Event-Id": header_text(event_id),
    }
    if idempotency_key:
        headers["Idempotency-Key"] = header_text(idempotency_key)
    if secret:
        headers["X-Eventscope-Signature"] = signature(secret, body)
    return headers


def header_text(value: str) -> str:
    """``value`` as a header may carry it: printable ASCII as it is; anything else (a producer's
    idempotency key in Cyrillic, a line break) percent-encoded as UTF-8, as in a URL, so that it
    reaches the consumer intact and cannot end the header early. The body has the original."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="".join(chr(c) for c in range(33, 127) if chr(c) != "%") + " ")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` (delay seconds or an HTTP date) as seconds from now, or None."""
    if not value:
        return None
    value = value.strip()
    seconds = whole_number(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # overflow: a year past 9999
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(status: int) -> str:
    if 200 <= status < 300:
        return DELIVERED
    if status >= 500 or status in (408, 429):
        return RETRY
    return PERMANENT


class Sender:
    """Sends deliveries for one thread, reusing connections per checked target."""

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        self._resolver = resolver
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._publishers: dict[tuple[str, tuple[tuple[str, str], ...]], Publisher] = {}
        self._targets: dict[str, tuple[float, tuple[tuple[str, ...], tuple[str, ...]], Target]] = {}
        self._timeout = urllib3.Timeout(
            connect=settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT, read=settings.EVENTSCOPE_REPLAY_READ_TIMEOUT
        )

    def target(self, url: str) -> Target:
        """``url`` checked for this delivery. A check (resolution included) is reused for up to
        ``_RESOLVE_TTL`` seconds while the allow/deny settings stay the same: at thousands of
        deliveries a second, checking each one from scratch would cost a DNS query apiece."""
        fingerprint = (
            tuple(getattr(settings, "EVENTSCOPE_CONSUMER_ALLOW", ())),
            tuple(getattr(settings, "EVENTSCOPE_CONSUMER_DENY", ())),
        )
        cached = self._targets.get(url)
        now = time.monotonic()
        if cached and now - cached[0] < _RESOLVE_TTL and cached[1] == fingerprint:
            return cached[2]
        checked = check_url(url, resolver=self._resolver)
        self._targets[url] = (now, fingerprint, checked)
        return checked

    def _pool(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        pool = self._pools.get(key)
        if pool is None:
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    target.address,
                    target.port,
                    maxsize=1,
                    block=False,
                    retries=False,
                    timeout=self._timeout,
                    server_hostname=target.host,
                    assert_hostname=target.host,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    target.address, target.port, maxsize=1, block=False, retries=False, timeout=self._timeout
                )
            self._pools[key] = pool
        return pool

    def send(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """One attempt: POST ``body`` to ``url``. Never raises for anything the network or the
        consumer did; the outcome says what happened."""
        started = time.perf_counter()
        try:
            target = self.target(url)
        except TargetRefused as err:
            return refused(err)
        pool = self._pool(target)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": target.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=self._timeout,
                preload_content=True,
            )
        except TransportError as err:
            latency = (time.perf_counter() - started) * 1000
            return Outcome(RETRY, None, latency, f"{type(err).__name__}: {err}"[:_ERROR_BODY])
        except OSError as err:
            latency = (time.perf_counter() - started) * 1000
            return Outcome(RETRY, None, latency, f"{type(err).__name__}: {err}"[:_ERROR_BODY])
        except ValueError as err:  # a request that cannot be written (it would be refused every time)
            latency = (time.perf_counter() - started) * 1000
            return Outcome(PERMANENT, None, latency, f"the request cannot be sent: {err}"[:_ERROR_BODY])
        latency = (time.perf_counter() - started) * 1000
        status = response.status
        kind = classify(status)
        # The consumer's text is kept with the attempt: without U+0000, which PostgreSQL cannot store.
        text = replace_nul(response.data[:_ERROR_BODY].decode("utf-8", "replace")) if response.data else ""
        if kind == DELIVERED:
            return Outcome(DELIVERED, status, latency, response=text)
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            error = f"HTTP {status}: redirect to {location[:200]!r} not followed"
        else:
            error = f"HTTP {status}" + (f": {text}" if text else "")
        return Outcome(
            kind, status, latency, error, parse_retry_after(response.headers.get("Retry-After")), response=text
        )

    def pipeline(self, url: str) -> int:
        """How many messages :meth:`publish` may take at once for ``url``: one for HTTP (each POST's
        answer decides what is sent next), :data:`PIPELINE` for a broker, whose confirmations are
        awaited together."""
        return PIPELINE if broker_kind(url) else 1

    def publish(self, url: str, options: dict[str, str], messages: list[Message]) -> list[Outcome]:
        """Deliver ``messages`` in order to the consumer at ``url`` (HTTP, or a broker with its
        target ``options``); one outcome per message. Never raises for what the network, the
        consumer or the broker did."""
        key = (url, tuple(sorted(options.items())))
        # A consumer edited while a replay runs (another broker, or HTTP now): the old connection goes.
        for old in [k for k in self._publishers if k != key]:
            self._close_publisher(old)
        if not broker_kind(url):
            return [self.send(url, message.body, message.headers) for message in messages]
        started = time.perf_counter()
        try:
            publisher = self._publishers.get(key)
            if publisher is None:
                publisher = self._publishers[key] = open_publisher(url, options, self._resolver)
            return publisher.publish(messages)
        except Exception as err:
            # A publisher promises outcomes, not exceptions; one that raises anyway (a URL its client
            # library cannot take, a bug) must not strand the lane's claimed deliveries. Nothing was
            # confirmed: each is retried, and the connection is made anew.
            logger.exception("publishing to a %s consumer failed", broker_kind(url))
            self._close_publisher(key)
            latency = (time.perf_counter() - started) * 1000
            error = scrubbed(f"the {broker_kind(url)} client failed: {type(err).__name__}: {err}", url)[:_ERROR_BODY]
            return [Outcome(RETRY, None, latency, error) for _ in messages]

    def _close_publisher(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> None:
        publisher = self._publishers.pop(key, None)
        if publisher is not None:
            try:
                publisher.close()
            except Exception:  # closing what failed may fail too; it is dropped either way
                logger.exception("closing a broker connection failed")

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        for key in list(self._publishers):
            self._close_publisher(key)
