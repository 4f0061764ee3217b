"""The NATS JetStream target against real servers: what a delivery publishes (read back with nats-py),
what counts as delivered (a JetStream ack, nothing less), what is retried and what is refused, and a
publisher that finds its way back after the broker went away."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import DiscardPolicy

from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY
from dashboard.replay.publish_nats import NatsPublisher
from dashboard.replay.publishers import PIPELINE, Message, open_publisher
from tests.support.brokers import (
    NATS_URL,
    STREAMS,
    PrivateNats,
    eventually,
    forget_streams,
    free_port,
    nats_stream,
    nats_stream_count,
    nats_stream_messages,
    run,
    unique,
)

PASSWORD = "s3cret/pa:ss"  # with characters a URL must quote
QUOTED_PASSWORD = "s3cret%2Fpa%3Ass"


@pytest.fixture(autouse=True)
def _streams_deleted() -> Iterator[None]:
    yield
    forget_streams()


@pytest.fixture
def publishers() -> Iterator[list[NatsPublisher]]:
    """Publishers the test opens, closed at its end."""
    opened: list[NatsPublisher] = []
    yield opened
    for publisher in opened:
        publisher.close()


def private(folder: Path, options: list[str] | None = None, *, start: bool = True) -> PrivateNats:
    server = PrivateNats(folder, options)
    if start:
        server.start()
    return server


def stopped(server: PrivateNats) -> None:
    """The private server stopped; its streams went with it (nothing to delete after the test)."""
    server.stop()
    STREAMS[:] = [entry for entry in STREAMS if entry[0] != server.url]


def opened(publishers: list[NatsPublisher], url: str, subject: str, resolver: Any = None) -> NatsPublisher:
    publisher = NatsPublisher(url, {"subject": subject}, resolver)
    publishers.append(publisher)
    return publisher


def delivery(number: int, replay: str = "nightly", key: str = "") -> Message:
    """A delivery as the engine hands it over: the envelope body and the HTTP delivery's headers."""
    event_id = f"evt-{number}"
    body = b'{"source":"shop.orders","detail-type":"OrderCreated","detail":{"order":%d},"replay-name":"%s"}' % (
        number,
        replay.encode(),
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Eventscope-Replay/1",
        "X-Eventscope-Replay": replay,
        "X-Eventscope-Event-Id": event_id,
        "X-Eventscope-Signature": f"sha256={number:064x}",
    }
    if key:
        headers["Idempotency-Key"] = key
    return Message(
        body=body, headers=headers, detail_type="OrderCreated", event_id=event_id, delivery_id=f"d-{replay}-{number}"
    )


def only_local(host: str, port: int) -> list[str]:
    return {"broker.test": ["127.0.0.1"]}[host]


def test_messages_arrive_in_order_with_their_body_and_every_header(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)
    sent = [delivery(number, key=f"order-{number}") for number in range(PIPELINE)]
    outcomes = publisher.publish(sent)
    assert [outcome.kind for outcome in outcomes] == [DELIVERED] * PIPELINE
    assert all(outcome.latency_ms > 0 and outcome.error == "" for outcome in outcomes)
    stored = run(nats_stream_messages(NATS_URL, stream))
    assert [body for body, _ in stored] == [message.body for message in sent]
    for (_, headers), message in zip(stored, sent, strict=True):
        assert headers == {**message.headers, "Nats-Msg-Id": message.delivery_id}


def test_delivered_means_the_stream_holds_it_when_publish_returns(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)
    for start in (0, 7):
        outcomes = publisher.publish([delivery(number) for number in range(start, start + 7)])
        assert [outcome.kind for outcome in outcomes] == [DELIVERED] * 7
        # No waiting: the ack is JetStream's word that it stored the message.
        assert run(nats_stream_count(NATS_URL, stream)) == start + 7


def test_a_message_sent_again_is_dropped_by_jetstream_and_still_counts(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)
    sent = [delivery(number) for number in range(5)]
    assert [outcome.kind for outcome in publisher.publish(sent)] == [DELIVERED] * 5
    # A retry after an outcome that was not known (a timeout, a lost connection) sends them again.
    assert [outcome.kind for outcome in publisher.publish(sent[2:])] == [DELIVERED] * 3
    assert run(nats_stream_count(NATS_URL, stream)) == 5
    # Another replay of the same events is not a duplicate.
    assert [o.kind for o in publisher.publish([delivery(1, replay="again")])] == [DELIVERED]
    assert run(nats_stream_count(NATS_URL, stream)) == 6


def test_one_event_to_two_subjects_of_one_stream_is_stored_twice(publishers: list[NatsPublisher]) -> None:
    # Two consumers of one replay whose subjects one stream holds: two deliveries, two messages. A
    # message id built from the replay and the event alone would make the second a "duplicate".
    billing, audit = unique("test.replay.") + ".billing", unique("test.replay.") + ".audit"
    stream = run(nats_stream(NATS_URL, [billing, audit]))
    first = delivery(1)
    second = Message(first.body, first.headers, first.detail_type, first.event_id, delivery_id="d-other-consumer")
    assert [o.kind for o in opened(publishers, NATS_URL, billing).publish([first])] == [DELIVERED]
    assert [o.kind for o in opened(publishers, NATS_URL, audit).publish([second])] == [DELIVERED]
    assert run(nats_stream_count(NATS_URL, stream)) == 2


def test_a_subject_no_stream_holds_is_retried_with_a_clear_error(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.nowhere.")
    publisher = opened(publishers, NATS_URL, subject)
    outcomes = publisher.publish([delivery(1), delivery(2)])
    assert [(outcome.kind, outcome.error) for outcome in outcomes] == [
        (RETRY, f"no JetStream stream holds subject {subject!r}")
    ] * 2
    # Once a stream holds it, the same publisher delivers.
    run(nats_stream(NATS_URL, [subject]))
    assert [outcome.kind for outcome in publisher.publish([delivery(1), delivery(2)])] == [DELIVERED] * 2


def test_a_message_the_stream_refuses_is_retried_with_jetstreams_reason(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.full.")
    name = unique("TEST_")

    async def full_stream() -> None:
        connection = await nats.connect(servers=[NATS_URL])
        try:
            await connection.jetstream().add_stream(
                name=name, subjects=[subject], max_msgs=2, discard=DiscardPolicy.NEW
            )
        finally:
            await connection.close()

    run(full_stream())
    STREAMS.append((NATS_URL, name))
    publisher = opened(publishers, NATS_URL, subject)
    outcomes = publisher.publish([delivery(number) for number in range(4)])
    assert [outcome.kind for outcome in outcomes] == [DELIVERED, DELIVERED, RETRY, RETRY]
    assert outcomes[2].error.startswith("JetStream did not store the message: maximum messages exceeded")
    # The refusal does not cost the connection: the next list goes on it, and is answered the same.
    assert [outcome.kind for outcome in publisher.publish([delivery(0), delivery(5)])] == [DELIVERED, RETRY]


@pytest.mark.parametrize(
    "url",
    [
        "nats://169.254.169.254:4222",
        "nats://[fe80::1]:4222",
        "tls://metadata.google.internal:4222",
        "nats://user:pw@0xa9fea9fe",
        "nats://innocent.test:4222",  # resolves to the metadata address
    ],
)
def test_a_metadata_or_link_local_url_is_permanent_without_connecting(url: str) -> None:
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return {"innocent.test": ["10.1.2.3", "169.254.169.254"]}[host]

    publisher = NatsPublisher(url, {"subject": "orders"}, resolve)
    try:
        outcomes = publisher.publish([delivery(1), delivery(2)])
        assert [outcome.kind for outcome in outcomes] == [PERMANENT] * 2
        assert all(outcome.error.startswith("URL refused: ") for outcome in outcomes)
        assert publisher._connection is None
    finally:
        publisher.close()


def test_it_connects_to_the_address_it_checked(publishers: list[NatsPublisher]) -> None:
    # "broker.test" has no DNS answer: delivering proves the connection went to the checked address.
    subject = unique("test.replay.")
    run(nats_stream(NATS_URL, [subject]))
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return only_local(host, port)

    publisher = opened(publishers, "nats://broker.test:4222", subject, resolve)
    for number in range(3):
        assert [outcome.kind for outcome in publisher.publish([delivery(number)])] == [DELIVERED]
    assert looked_up == ["broker.test"]  # checked when connecting, not per list


def test_a_broker_that_is_not_there_is_retried_and_the_same_publisher_delivers_once_it_is(
    tmp_path: Path, publishers: list[NatsPublisher]
) -> None:
    server = private(tmp_path, start=False)
    publisher = opened(publishers, server.url, "orders.created")
    outcomes = publisher.publish([delivery(1), delivery(2)])
    assert [outcome.kind for outcome in outcomes] == [RETRY] * 2
    assert outcomes[0].error.startswith(f"cannot connect to NATS at 127.0.0.1:{server.port}: ")
    assert "refused" in outcomes[0].error.lower() or "connect call failed" in outcomes[0].error.lower()
    server.start()
    try:
        run(nats_stream(server.url, ["orders.created"]))
        assert [outcome.kind for outcome in publisher.publish([delivery(1), delivery(2)])] == [DELIVERED] * 2
    finally:
        stopped(server)


def test_a_connection_the_broker_dropped_is_replaced_on_the_next_publish(
    tmp_path: Path, publishers: list[NatsPublisher]
) -> None:
    server = private(tmp_path)
    try:
        stream = run(nats_stream(server.url, ["orders.created"]))
        publisher = opened(publishers, server.url, "orders.created")
        assert [outcome.kind for outcome in publisher.publish([delivery(1)])] == [DELIVERED]
        # The server goes away and comes back between two lists: the dead connection is noticed
        # before the next list is written into it.
        server.kill()
        server.start()
        assert [outcome.kind for outcome in publisher.publish([delivery(2)])] == [DELIVERED]
        # It goes away and stays away: retried, with why.
        server.kill()
        outcomes = publisher.publish([delivery(3), delivery(4)])
        assert [outcome.kind for outcome in outcomes] == [RETRY] * 2
        assert "NATS" in outcomes[0].error and "127.0.0.1" in outcomes[0].error
        server.start()
        assert [outcome.kind for outcome in publisher.publish([delivery(3), delivery(4)])] == [DELIVERED] * 2
        assert len(run(nats_stream_messages(server.url, stream))) == 4
    finally:
        stopped(server)


def test_the_url_is_checked_again_when_reconnecting(
    tmp_path: Path, publishers: list[NatsPublisher], settings: Any
) -> None:
    server = private(tmp_path)
    try:
        run(nats_stream(server.url, ["orders.created"]))
        publisher = opened(publishers, server.url, "orders.created")
        assert [outcome.kind for outcome in publisher.publish([delivery(1)])] == [DELIVERED]
        settings.EVENTSCOPE_CONSUMER_DENY = ["127.0.0.0/8"]
        server.kill()
        server.start()
        outcomes = publisher.publish([delivery(2)])
        assert [(outcome.kind, outcome.error) for outcome in outcomes] == [
            (PERMANENT, "URL refused: 127.0.0.1 is denied by EVENTSCOPE_CONSUMER_DENY")
        ]
    finally:
        stopped(server)


def test_the_password_is_used_and_never_shown(tmp_path: Path, publishers: list[NatsPublisher]) -> None:
    server = private(tmp_path, ["--user", "replayer", "--pass", PASSWORD])
    try:

        async def stream() -> None:
            # nats-py does not unquote a password in a URL; the publisher does (so "/" and ":" work).
            connection = await nats.connect(
                servers=[server.url], user="replayer", password=PASSWORD, allow_reconnect=False
            )
            try:
                await connection.jetstream().add_stream(name="ORDERS", subjects=["orders.created"])
            finally:
                await connection.close()

        run(stream())
        right = opened(publishers, f"nats://replayer:{QUOTED_PASSWORD}@127.0.0.1:{server.port}", "orders.created")
        assert [outcome.kind for outcome in right.publish([delivery(1)])] == [DELIVERED]
        wrong = opened(publishers, f"nats://replayer:{QUOTED_PASSWORD}-old@127.0.0.1:{server.port}", "orders.created")
        closed = opened(publishers, f"nats://replayer:{QUOTED_PASSWORD}@127.0.0.1:{free_port()}", "orders.created")
        token = opened(publishers, f"nats://s3cret-token@127.0.0.1:{server.port}", "orders.created")
        refused = wrong.publish([delivery(2)]) + closed.publish([delivery(3)]) + token.publish([delivery(4)])
        assert [outcome.kind for outcome in refused] == [RETRY, RETRY, RETRY]
        assert "authorization violation" in refused[0].error.lower()
        # Unquoted, the password breaks the URL apart: refused, and the parser's complaint is masked.
        malformed = opened(publishers, f"nats://replayer:{PASSWORD}@127.0.0.1:{server.port}", "orders.created")
        refused += malformed.publish([delivery(5)])
        assert refused[-1].kind == PERMANENT and refused[-1].error.startswith("URL refused: ")
        for outcome in refused:
            assert "s3cret" not in outcome.error, outcome.error
    finally:
        stopped(server)


def test_close_is_safe_twice_and_a_later_publish_connects_again(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)
    publisher.close()  # never connected
    assert [outcome.kind for outcome in publisher.publish([delivery(1)])] == [DELIVERED]
    publisher.close()
    publisher.close()
    assert [outcome.kind for outcome in publisher.publish([delivery(2)])] == [DELIVERED]
    assert run(nats_stream_count(NATS_URL, stream)) == 2


def test_it_works_from_a_thread_that_runs_an_event_loop(publishers: list[NatsPublisher]) -> None:
    subject = unique("test.replay.")
    run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)

    async def inside_a_loop() -> list[str]:
        return [outcome.kind for outcome in publisher.publish([delivery(1), delivery(2)])]

    # On a thread of its own: this one may already run a loop (the browser tests' sync API keeps one).
    assert run(inside_a_loop()) == [DELIVERED] * 2
    assert [outcome.kind for outcome in publisher.publish([delivery(3)])] == [DELIVERED]


def test_open_publisher_gives_the_nats_publisher_for_nats_and_tls_urls() -> None:
    for url in ("nats://127.0.0.1:4222", "tls://broker.test:4222"):
        publisher = open_publisher(url, {"subject": "orders"})
        assert isinstance(publisher, NatsPublisher)
        publisher.close()


# --- TLS ------------------------------------------------------------------------------------------


def certificates(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA of the test's own and a server certificate it signed for ``name``: (ca, cert, key)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *new_key, "-days", "2", "-subj", "/CN=Test CA", "-keyout", str(ca_key), "-out", str(ca))
    openssl("req", *new_key, "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(request))
    (folder / "san.cnf").write_text(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "2", "-extfile", str(folder / "san.cnf"), "-out", str(cert))  # fmt: skip
    return ca, cert, key


def test_tls_urls_use_tls_and_check_the_certificate_against_the_host_name(
    tmp_path: Path, publishers: list[NatsPublisher], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.EVENTSCOPE_REPLAY_CONNECT_TIMEOUT = 1  # a refused handshake ends only when this runs out
    ca, cert, key = certificates(tmp_path, "broker.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the default context trusts the test's CA
    server = private(tmp_path, ["--tls", "--tlscert", str(cert), "--tlskey", str(key)])
    try:

        async def stream() -> None:
            context = ssl.create_default_context(cafile=str(ca))
            connection = await nats.connect(
                servers=[f"tls://127.0.0.1:{server.port}"], tls=context, tls_hostname="broker.test"
            )
            try:
                await connection.jetstream().add_stream(name="ORDERS", subjects=["orders.created"])
            finally:
                await connection.close()

        run(stream())
        # The connection goes to the checked address (127.0.0.1); the certificate is for broker.test.
        secure = opened(publishers, f"tls://broker.test:{server.port}", "orders.created", only_local)
        assert [outcome.kind for outcome in secure.publish([delivery(1)])] == [DELIVERED]
        # By its address, the same server's certificate does not match: retried, never sent in clear.
        by_address = opened(publishers, f"tls://127.0.0.1:{server.port}", "orders.created")
        outcomes = by_address.publish([delivery(2)])
        assert [outcome.kind for outcome in outcomes] == [RETRY]
        assert "certificate" in outcomes[0].error.lower()
    finally:
        stopped(server)


def test_a_tls_url_to_a_server_without_tls_is_retried_before_the_password_is_sent(
    publishers: list[NatsPublisher],
) -> None:
    # A server that offers no TLS: it greets as nats-server does and keeps whatever the client sends.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received = bytearray()

    def serve() -> None:
        client, _ = listener.accept()
        with client:
            client.sendall(b'INFO {"server_id":"PLAIN","version":"2.9.10","proto":1,"headers":true,'
                           b'"max_payload":1048576}\r\n')  # fmt: skip
            client.settimeout(10)
            with contextlib.suppress(OSError):
                while chunk := client.recv(4096):
                    received.extend(chunk)

    serving = threading.Thread(target=serve)
    serving.start()
    try:
        publisher = opened(publishers, f"tls://replayer:{QUOTED_PASSWORD}@127.0.0.1:{port}", "orders")
        outcomes = publisher.publish([delivery(1)])
        publisher.close()
        serving.join(15)
    finally:
        listener.close()
    assert [(outcome.kind, outcome.error) for outcome in outcomes] == [
        (RETRY, f"cannot connect to NATS at 127.0.0.1:{port}: the server does not use TLS, which a tls:// URL asks for")
    ]
    assert not serving.is_alive()
    assert b"s3cret" not in received and b"CONNECT" not in received


def test_a_list_larger_than_the_write_buffer_is_delivered_whole(publishers: list[NatsPublisher]) -> None:
    # 8 MB, four times the client's write buffer: the writing waits for flushes on the way.
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)
    padded = [
        Message(body=message.body + b" " * 8000, headers=message.headers, detail_type="OrderCreated",
                event_id=message.event_id)
        for message in (delivery(number) for number in range(1000))
    ]  # fmt: skip
    assert [outcome.kind for outcome in publisher.publish(padded)] == [DELIVERED] * 1000
    assert run(nats_stream_count(NATS_URL, stream)) == 1000


def test_a_message_the_server_can_never_take_is_permanent_and_the_others_go(
    publishers: list[NatsPublisher],
) -> None:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    publisher = opened(publishers, NATS_URL, subject)
    huge = Message(body=b"x" * 2_000_000, headers={"X-Eventscope-Replay": "nightly"}, detail_type="T", event_id="big")
    broken = Message(body=b"{}", headers={"X-Note": "one\r\nNats-Msg-Id: forged"}, detail_type="T", event_id="nl")
    outcomes = publisher.publish([delivery(1), huge, broken, delivery(2)])
    assert [outcome.kind for outcome in outcomes] == [DELIVERED, PERMANENT, PERMANENT, DELIVERED]
    assert outcomes[1].error == "the message is 2000000 bytes, more than the server takes (1048576)"
    assert "line break" in outcomes[2].error
    assert [body for body, _ in run(nats_stream_messages(NATS_URL, stream))] == [delivery(1).body, delivery(2).body]


class CuttingProxy:
    """A TCP proxy to the NATS server that, while ``cut_at`` is set, passes a connection's first
    ``cut_at - 1`` published messages to the server and then cuts it (both ways) in the middle of the
    list: the messages before the cut may be stored, their acks never come back."""

    def __init__(self, upstream_port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream_port = upstream_port
        self.cut_at: int | None = None
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.upstream_port))
                threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
                threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, publishes: bool) -> None:
        seen = 0
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if publishes and self.cut_at is not None:
                    position = -1
                    for _ in range(self.cut_at - seen):
                        position = chunk.find(b"HPUB ", position + 1)
                        if position < 0:
                            break
                    if position >= 0:
                        sink.sendall(chunk[:position])
                        self.cuts += 1
                        break
                if publishes:
                    seen += chunk.count(b"HPUB ")
                sink.sendall(chunk)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()


def test_a_connection_cut_mid_list_is_retried_and_the_resend_is_stored_once(
    publishers: list[NatsPublisher],
) -> None:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))
    proxy = CuttingProxy(4222)
    try:
        publisher = opened(publishers, f"nats://127.0.0.1:{proxy.port}", subject)
        sent = [delivery(number) for number in range(10)]
        assert [outcome.kind for outcome in publisher.publish(sent[:1])] == [DELIVERED]
        proxy.cut_at = 4  # the connection's 4th message onwards: in the middle of the next list
        outcomes = publisher.publish(sent[1:])
        assert proxy.cuts == 1
        # Messages 1 and 2 reached the server (their acks may or may not have come back before the
        # cut); 3 to 9 never did.
        assert [outcome.kind for outcome in outcomes[2:]] == [RETRY] * 7
        assert {outcome.kind for outcome in outcomes[:2]} <= {DELIVERED, RETRY}
        for outcome in outcomes:
            assert outcome.kind == DELIVERED or outcome.error.startswith("the NATS connection was lost: ")
        eventually(lambda: run(nats_stream_count(NATS_URL, stream)) == 3, timeout=10, what="3 stored")
        proxy.cut_at = None
        # The engine sends the retried ones again: on a new connection, and what the stream already
        # held is not stored twice.
        again = [message for message, outcome in zip(sent[1:], outcomes, strict=True) if outcome.kind == RETRY]
        assert [outcome.kind for outcome in publisher.publish(again)] == [DELIVERED] * len(again)
        stored = run(nats_stream_messages(NATS_URL, stream))
        assert [body for body, _ in stored] == [message.body for message in sent]
    finally:
        proxy.close()


def test_a_subject_with_core_subscribers_only_is_not_delivered_without_an_ack(
    publishers: list[NatsPublisher], settings: Any
) -> None:
    settings.EVENTSCOPE_REPLAY_READ_TIMEOUT = 1
    subject = unique("test.core.")
    ready, stop, got = threading.Event(), threading.Event(), []

    async def keep(message: Any) -> None:
        got.append(message.data)

    async def core_subscriber() -> None:
        connection = await nats.connect(servers=[NATS_URL])
        try:
            await connection.subscribe(subject, cb=keep)
            await connection.flush()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)
        finally:
            await connection.close()

    subscriber = threading.Thread(target=asyncio.run, args=(core_subscriber(),))
    subscriber.start()
    try:
        assert ready.wait(10)
        publisher = opened(publishers, NATS_URL, subject)
        outcomes = publisher.publish([delivery(1), delivery(2)])
        assert [(outcome.kind, outcome.error) for outcome in outcomes] == [
            (RETRY, f"no JetStream ack within 1 s (is subject {subject!r} in a stream?)")
        ] * 2
        assert got == [delivery(1).body, delivery(2).body]  # they had it; nothing stored it
        stream = run(nats_stream(NATS_URL, [subject]))
        assert [outcome.kind for outcome in publisher.publish([delivery(1), delivery(2)])] == [DELIVERED] * 2
        assert run(nats_stream_count(NATS_URL, stream)) == 2
    finally:
        stop.set()
        subscriber.join(10)
