"""The Redis Streams target against the real server: entries read back with redis-py (XRANGE) carry
the body and every header, outcomes carry the id XADD answered, a refused URL never connects, a
broker that is away or a connection cut under the publisher is retried and then reconnected, and an
entry Redis will not store (the key is not a stream) is retried on its own."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY
from dashboard.replay.publish_redis import RedisPublisher
from dashboard.replay.publishers import PIPELINE, Message, open_publisher
from tests.support.brokers import TcpProxy, redis_client, redis_url, self_signed_certificate, unique

PASSWORD = "s3cret-Pw!"
QUOTED_PASSWORD = "s3cret-Pw%21"


def server() -> tuple[str, int, str]:
    """The test Redis: host, port and database (the path of its URL)."""
    parts = urlsplit(redis_url())
    return parts.hostname or "127.0.0.1", parts.port or 6379, parts.path.strip("/") or "0"


def url_through(address: str) -> str:
    return f"redis://{address}/{server()[2]}"


def messages(count: int, tag: str = "") -> list[Message]:
    return [
        Message(
            body=b'{"detail-type": "OrderCreated", "detail": {"n": %d}, "replay-name": "r1"}' % n,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Eventscope-Replay/1",
                "X-Eventscope-Replay": "r1",
                "X-Eventscope-Event-Id": f"{tag}ev-{n}",
                "Idempotency-Key": f"order-{n}",
                "X-Eventscope-Signature": f"sha256={n:064x}",
            },
            detail_type="OrderCreated",
            event_id=f"{tag}ev-{n}",
        )
        for n in range(count)
    ]


@pytest.fixture
def stream() -> Iterator[str]:
    name = unique("test:replay:")
    yield name
    redis_client().delete(name)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    host, port, _ = server()
    forwarder = TcpProxy((host, port))
    forwarder.start()
    yield forwarder
    forwarder.stop()


def test_entries_arrive_in_order_with_the_body_and_every_header(stream: str) -> None:
    publisher = open_publisher(redis_url(), {"stream": stream})
    sent = messages(PIPELINE + 5)  # more than one engine batch, in two calls
    try:
        outcomes = publisher.publish(sent[:PIPELINE]) + publisher.publish(sent[PIPELINE:])
    finally:
        publisher.close()
    entries = redis_client().xrange(stream)
    assert [outcome.kind for outcome in outcomes] == [DELIVERED] * len(sent)
    assert len(entries) == len(sent)
    for message, (entry_id, fields), outcome in zip(sent, entries, outcomes, strict=True):
        assert fields == {b"body": message.body} | {k.encode(): v.encode() for k, v in message.headers.items()}
        # Delivered means confirmed: the outcome holds the id XADD answered for that very entry.
        assert outcome.response == entry_id.decode()
        assert outcome.status is None and outcome.error == ""
        assert outcome.latency_ms >= 0


def test_the_database_of_the_url_is_used(stream: str) -> None:
    host, port, _ = server()
    other = "14" if server()[2] != "14" else "13"
    publisher = RedisPublisher(f"redis://{host}:{port}/{other}", {"stream": stream}, None)
    try:
        assert [o.kind for o in publisher.publish(messages(2))] == [DELIVERED, DELIVERED]
    finally:
        publisher.close()
    elsewhere = redis.Redis.from_url(f"redis://{host}:{port}/{other}")
    try:
        assert elsewhere.xlen(stream) == 2
        assert redis_client().exists(stream) == 0
    finally:
        elsewhere.delete(stream)


@pytest.mark.parametrize(
    "url",
    [
        "redis://169.254.169.254:6379/0",  # the cloud metadata address
        "redis://[fe80::1]:6379/0",  # link-local
        "rediss://metadata.google.internal/0",
        f"redis://user:{QUOTED_PASSWORD}@0xa9fea9fe:6379/0",  # metadata again, in hex
    ],
)
def test_a_refused_url_is_permanent_and_never_connects(url: str, stream: str) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} looked up")  # every one of these is refused before any lookup

    publisher = RedisPublisher(url, {"stream": stream}, resolver)
    outcomes = publisher.publish(messages(3))
    publisher.close()
    assert [o.kind for o in outcomes] == [PERMANENT] * 3
    assert all(o.error.startswith("URL refused: ") for o in outcomes), outcomes
    assert all(PASSWORD not in o.error and QUOTED_PASSWORD not in o.error for o in outcomes)
    assert publisher._client is None  # nothing was ever connected


def test_it_connects_to_the_address_the_policy_checked_and_checks_again_on_reconnect(
    stream: str, proxy: TcpProxy
) -> None:
    answers = {"redis.shop.internal": [proxy.address.split(":")[0]]}

    def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    # The name does not resolve on this machine: only the checked address can have been used.
    publisher = RedisPublisher(f"redis://redis.shop.internal:{proxy.port}/{server()[2]}", {"stream": stream}, resolver)
    try:
        assert [o.kind for o in publisher.publish(messages(2))] == [DELIVERED, DELIVERED]
        # The name now answers with the metadata address ("DNS rebinding"), and the connection breaks.
        answers["redis.shop.internal"] = ["169.254.169.254"]
        proxy.cut()
        first = publisher.publish(messages(1, "a"))
        second = publisher.publish(messages(1, "b"))
    finally:
        publisher.close()
    outcomes = first + second
    # Whichever call notices the broken connection first, the reconnect is checked and refused.
    assert outcomes[-1].kind == PERMANENT and "169.254.169.254" in outcomes[-1].error, outcomes
    assert all(o.kind in (RETRY, PERMANENT) for o in outcomes), outcomes
    assert redis_client().xlen(stream) == 2


def test_a_broker_that_is_away_is_retried_then_the_same_publisher_delivers(stream: str, proxy: TcpProxy) -> None:
    proxy.stop()  # nothing listens on its port now
    publisher = RedisPublisher(f"redis://default:{QUOTED_PASSWORD}@{proxy.address}/{server()[2]}", {"stream": stream})
    try:
        away = publisher.publish(messages(3))
        assert [o.kind for o in away] == [RETRY] * 3
        for outcome in away:
            assert "Connection refused" in outcome.error, outcome
            assert f"127.0.0.1:{proxy.port}" in outcome.error
            assert PASSWORD not in outcome.error and QUOTED_PASSWORD not in outcome.error
        proxy.start()
        # The server runs with the default user open to any password: the login passes.
        back = publisher.publish(messages(3))
    finally:
        publisher.close()
    assert [o.kind for o in back] == [DELIVERED] * 3
    assert [entry_id.decode() for entry_id, _ in redis_client().xrange(stream)] == [o.response for o in back]


def test_a_connection_cut_under_it_is_retried_and_the_next_publish_reconnects(stream: str, proxy: TcpProxy) -> None:
    publisher = RedisPublisher(url_through(proxy.address), {"stream": stream})
    try:
        assert [o.kind for o in publisher.publish(messages(2, "a"))] == [DELIVERED] * 2
        assert proxy.cut() == 1
        after = publisher.publish(messages(2, "b"))
        # Redis-py notices a closed connection before writing and reconnects; if it wrote first, the
        # call's messages are retried (not lost) and the call after it reconnects.
        if after[0].kind == RETRY:
            assert all(o.kind == RETRY and "Redis connection failed" in o.error for o in after), after
            after = publisher.publish(messages(2, "b"))
        assert [o.kind for o in after] == [DELIVERED] * 2
    finally:
        publisher.close()
        publisher.close()  # twice is fine
    ids = [fields[b"X-Eventscope-Event-Id"] for _, fields in redis_client().xrange(stream)]
    assert ids == [b"a" + b"ev-0", b"aev-1", b"bev-0", b"bev-1"]


def test_an_entry_redis_does_not_store_is_retried_alone(stream: str) -> None:
    client = redis_client()
    client.set(stream, "a string, not a stream")
    refused = RedisPublisher(redis_url(), {"stream": stream})
    good_stream = unique("test:replay:")
    fine = RedisPublisher(redis_url(), {"stream": good_stream})
    try:
        outcomes = refused.publish(messages(3))
        assert [o.kind for o in outcomes] == [RETRY] * 3
        assert all(f"the key {stream!r} holds another type, not a stream" in o.error for o in outcomes), outcomes
        assert all(o.error.startswith("Redis did not store the entry") for o in outcomes)
        # The connection stays good: once the key is a stream, the same publisher delivers.
        client.delete(stream)
        assert [o.kind for o in refused.publish(messages(2))] == [DELIVERED] * 2
        assert [o.kind for o in fine.publish(messages(1))] == [DELIVERED]
    finally:
        refused.close()
        fine.close()
        client.delete(good_stream)


def test_a_failed_login_is_retried_without_the_password_in_the_error(stream: str) -> None:
    host, port, database = server()
    user = unique("nobody")
    publisher = RedisPublisher(f"redis://{user}:{QUOTED_PASSWORD}@{host}:{port}/{database}", {"stream": stream})
    try:
        outcomes = publisher.publish(messages(2))
    finally:
        publisher.close()
    assert [o.kind for o in outcomes] == [RETRY] * 2
    for outcome in outcomes:
        assert outcome.error.startswith("Redis refused the login"), outcome
        assert PASSWORD not in outcome.error and QUOTED_PASSWORD not in outcome.error
    assert redis_client().exists(stream) == 0


def test_a_consumer_without_a_stream_is_permanent() -> None:
    publisher = RedisPublisher(redis_url(), {}, None)
    assert [o.kind for o in publisher.publish(messages(1))] == [PERMANENT]
    assert publisher.publish([]) == []
    publisher.close()


def test_entries_redis_stored_but_never_confirmed_are_retried_not_delivered(
    stream: str, proxy: TcpProxy, settings: Any
) -> None:
    settings.EVENTSCOPE_REPLAY_READ_TIMEOUT = 1
    publisher = RedisPublisher(url_through(proxy.address), {"stream": stream})
    try:
        assert [o.kind for o in publisher.publish(messages(1, "a"))] == [DELIVERED]
        proxy.hold_answers = True  # Redis gets the entries; its answers never come back
        silent = publisher.publish(messages(3, "b"))
        assert [o.kind for o in silent] == [RETRY] * 3
        assert all(o.error.startswith("Redis did not confirm within 1 s") for o in silent), silent
        assert all(o.response == "" for o in silent)
        # Redis did store them: a confirmation, not the write, is what makes a delivery.
        assert redis_client().xlen(stream) == 4
        proxy.hold_answers = False
        again = publisher.publish(messages(3, "b"))
    finally:
        publisher.close()
    assert [o.kind for o in again] == [DELIVERED] * 3
    assert [entry_id.decode() for entry_id, _ in redis_client().xrange(stream)][-3:] == [o.response for o in again]


@pytest.fixture
def tls_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TcpProxy]:
    """Redis behind a TLS port whose certificate names ``redis.shop.internal``, trusted by this
    process (OpenSSL reads ``SSL_CERT_FILE`` whenever a default context is made)."""
    cert, key = self_signed_certificate(tmp_path, "redis.shop.internal")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    host, port, _ = server()
    forwarder = TcpProxy((host, port), tls=context)
    forwarder.start()
    yield forwarder
    forwarder.stop()


def test_rediss_speaks_tls_to_the_checked_address_and_checks_the_certificate_against_the_name(
    stream: str, tls_proxy: TcpProxy
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"redis.shop.internal": ["127.0.0.1"], "cache.shop.internal": ["127.0.0.1"]}[host]

    database = server()[2]
    publisher = RedisPublisher(
        f"rediss://redis.shop.internal:{tls_proxy.port}/{database}", {"stream": stream}, resolver
    )
    # The same TLS port under a name its certificate does not carry.
    wrong_name = RedisPublisher(
        f"rediss://cache.shop.internal:{tls_proxy.port}/{database}", {"stream": stream}, resolver
    )
    try:
        delivered = publisher.publish(messages(2))
        refused = wrong_name.publish(messages(1))
    finally:
        publisher.close()
        wrong_name.close()
    assert [o.kind for o in delivered] == [DELIVERED] * 2, delivered
    assert [entry_id.decode() for entry_id, _ in redis_client().xrange(stream)] == [o.response for o in delivered]
    assert refused[0].kind == RETRY and "certificate" in refused[0].error, refused
    assert tls_proxy.server_names == ["redis.shop.internal", "cache.shop.internal"]
