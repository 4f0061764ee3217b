"""The real brokers of the tap tests (RabbitMQ 127.0.0.1:5672, NATS with JetStream 127.0.0.1:4222,
Redis 127.0.0.1:6379; ``.ci/run`` starts them): producers and consumers made with each broker's own
client, unique names per test, waits on conditions, and a private NATS server a test may kill.

A broker that is down fails the test that needs it (a connection error), never skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import amqp
import nats
import redis
from django.conf import settings

from dashboard.taps.models import Tap

AMQP_URL = os.environ.get("EVENTSCOPE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("EVENTSCOPE_TEST_NATS_URL", "nats://127.0.0.1:4222")
NATS_SERVER = "/usr/sbin/nats-server"
T = TypeVar("T")


def redis_url() -> str:
    """The test run's Redis (db 15 when the run has none: the SQLite run)."""
    return settings.REDIS_URL or "redis://127.0.0.1:6379/15"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def eventually(check: Callable[[], T], *, timeout: float = 30, every: float = 0.05, what: str = "") -> T:
    """``check()`` once it is truthy; AssertionError with its last answer after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    answer = check()
    while not answer:
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {what or check} (last: {answer!r}){_tap_stacks()}")
        time.sleep(every)
        answer = check()
    return answer


def _tap_stacks() -> str:
    """Where this process's tap threads are (for a failure's message)."""
    frames = sys._current_frames()
    return "".join(
        f"\n--- {thread.name}\n" + "".join(traceback.format_stack(frames[thread.ident])[-6:])
        for thread in threading.enumerate()
        if thread.name.startswith("tap") and thread.ident in frames
    )


def tap_row(name: str) -> Tap:
    return Tap.objects.get(name=name)


# --- RabbitMQ -------------------------------------------------------------------------------------


@contextmanager
def amqp_channel() -> Iterator[Any]:
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", connect_timeout=5)
    connection.connect()
    try:
        yield connection.channel()
    finally:
        connection.close()


def amqp_exchange(channel: Any, kind: str = "topic") -> str:
    """A new exchange (auto-deleted once unused), as a producer's own would be."""
    name = unique("test.shop.")
    channel.exchange_declare(name, kind, durable=False, auto_delete=True)
    return name


def amqp_consumer_queue(channel: Any, exchange: str, key: str = "#") -> str:
    """An existing consumer's queue bound to ``exchange`` (what must keep getting every message)."""
    name = unique("test.consumer.")
    # It must outlive its declaring connection (a tap test reads it later), and must not outlive the
    # test run: RabbitMQ deletes it after ten minutes unused.
    channel.queue_declare(name, durable=False, auto_delete=False, exclusive=False, arguments={"x-expires": 600_000})
    channel.queue_bind(name, exchange, key)
    return name


def amqp_drain(channel: Any, queue: str) -> list[amqp.Message]:
    """Every message waiting in ``queue`` (acknowledged)."""
    got = []
    while True:
        message = channel.basic_get(queue, no_ack=True)
        if message is None:
            return got
        got.append(message)


def amqp_close_tap_connection(tap: str) -> None:
    """Close the tap's connection from RabbitMQ's side (``rabbitmqctl close_connection``)."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    pids = [line.split()[0] for line in listing.splitlines() if f"eventscope tap {tap}" in line]
    assert pids, f"no connection of tap {tap} in:\n{listing}"
    for pid in pids:
        subprocess.run(["rabbitmqctl", "close_connection", pid, "test: cut"], check=True, timeout=60,
                       capture_output=True)  # fmt: skip


# --- Redis ----------------------------------------------------------------------------------------


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(redis_url())


def redis_kill_tap_connection(tap: str) -> int:
    """Close the tap's connections from Redis's side (``CLIENT KILL ID``); how many."""
    client = redis_client()
    killed = 0
    for entry in client.client_list():
        if entry.get("name") == f"eventscope-tap-{tap}":
            client.client_kill_filter(_id=entry["id"])
            killed += 1
    return killed


# --- NATS -----------------------------------------------------------------------------------------


def run(coroutine: Any) -> Any:
    """``coroutine`` run to completion on a thread of its own: the test's thread may already run an
    event loop (the browser tests' sync API keeps one for the session), where ``asyncio.run`` fails."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def nats_publish(url: str, subject: str, messages: list[tuple[bytes, dict[str, str] | None]]) -> None:
    connection = await nats.connect(servers=[url])
    try:
        for body, headers in messages:
            await connection.publish(subject, body, headers=headers)
        await connection.flush()
    finally:
        await connection.close()


async def nats_js_publish(url: str, subject: str, messages: list[tuple[bytes, dict[str, str] | None]]) -> None:
    connection = await nats.connect(servers=[url])
    try:
        jetstream = connection.jetstream()
        for body, headers in messages:
            await jetstream.publish(subject, body, headers=headers)
    finally:
        await connection.close()


# Streams the tests made on the shared NATS server, deleted after each test (forget_streams).
STREAMS: list[tuple[str, str]] = []


async def nats_stream(url: str, subjects: list[str]) -> str:
    """A JetStream stream (file storage) holding ``subjects``."""
    name = unique("TEST_")
    connection = await nats.connect(servers=[url])
    try:
        await connection.jetstream().add_stream(name=name, subjects=subjects)
    finally:
        await connection.close()
    STREAMS.append((url, name))
    return name


def forget_streams() -> None:
    """Delete the streams the test made (those on a private server went with it)."""

    async def delete(url: str, name: str) -> None:
        connection = await asyncio.wait_for(nats.connect(servers=[url], allow_reconnect=False), 5)
        try:
            await connection.jetstream().delete_stream(name)
        finally:
            await connection.close()

    while STREAMS:
        url, name = STREAMS.pop()
        with contextlib.suppress(Exception):
            run(delete(url, name))


async def nats_stream_messages(url: str, stream: str) -> list[tuple[bytes, dict[str, str]]]:
    """Every message ``stream`` holds, in its order: ``(body, headers)`` read back by sequence."""
    connection = await nats.connect(servers=[url])
    try:
        jetstream = connection.jetstream()
        info = await jetstream.stream_info(stream)
        got = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            stored = await jetstream.get_msg(stream, sequence)
            got.append((stored.data or b"", dict(stored.headers or {})))
        return got
    finally:
        await connection.close()


async def nats_stream_count(url: str, stream: str) -> int:
    """How many messages ``stream`` holds."""
    connection = await nats.connect(servers=[url])
    try:
        return int((await connection.jetstream().stream_info(stream)).state.messages)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateNats:
    """A nats-server (with JetStream) of the test's own, which it may kill and start again."""

    def __init__(self, folder: Path, options: list[str] | None = None) -> None:
        assert shutil.which(NATS_SERVER) or Path(NATS_SERVER).exists(), f"{NATS_SERVER} is missing"
        self.folder = folder
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # More nats-server options (credentials, TLS) for the servers a test needs them on.
        self.options = list(options or [])

    def start(self) -> None:
        log = open(self.folder / "nats.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.folder / "store"),
             *self.options],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        eventually(self._answers, timeout=20, what="the private NATS server answers")

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()


# --- A connection a test can cut ------------------------------------------------------------------


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 (a port of its own) to ``upstream``, which a test can stop (new
    connections refused, as when the broker is down), start again on the same port, or ``cut``
    (every open connection closed under its client, as when the broker or the network drops it).
    While ``hold_answers`` is set, what the upstream answers is dropped (a broker that went silent).
    With ``tls`` (a server context) it terminates TLS, as a broker's TLS port does; the server names
    clients asked for (SNI) are kept in ``server_names``."""

    def __init__(self, upstream: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.tls = tls
        self.server_names: list[str | None] = []
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _context: self.server_names.append(name)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.hold_answers = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="test-proxy").start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            if self.tls is not None:
                try:
                    client = self.tls.wrap_socket(client, server_side=True)
                except OSError:  # the client refused the certificate
                    client.close()
                    continue
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for source, sink, answers in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(source, sink, answers), daemon=True,
                                 name="test-proxy").start()  # fmt: skip

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if not (answers and self.hold_answers):
                    sink.sendall(chunk)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        """Close every connection open through the proxy; how many there were (client side)."""
        with self._lock:
            cut, self._open = self._open, []
        for end in cut:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        return len(cut) // 2

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()


def self_signed_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` that signs itself, and its key (``openssl``)."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def amqp_close_connection_named(name: str) -> None:
    """Close, from RabbitMQ's side, the connections whose client properties carry ``name`` (their
    ``connection_name``). The broker then waits for the client's answer (up to 30 s) before it stops
    listing them: wait on the client's socket for the close instead."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    pids = [line.split()[0] for line in listing.splitlines() if name in line]
    assert pids, f"no connection named {name!r} in:\n{listing}"
    for pid in pids:
        subprocess.run(["rabbitmqctl", "close_connection", pid, "test: cut"], check=True, timeout=60,
                       capture_output=True)  # fmt: skip


def readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read (or was closed by its peer)."""
    return bool(select.select([sock], [], [], 0)[0])


class TcpRelay:
    """A TCP relay on 127.0.0.1 in front of a broker, which a test can start (on a port it chose),
    cut (close the connections it carries, as a network failure would), make swallow the broker's
    replies (``hold_replies``: what the client writes still reaches the broker) and stop."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5672), port: int | None = None) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self.holding = threading.Event()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpRelay:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True, name="relay").start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    break
                if not (replies and self.holding.is_set()):
                    sink.sendall(data)
            except OSError:
                break
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def hold_replies(self) -> None:
        self.holding.set()

    def cut(self) -> None:
        with self._lock:
            carried, self._open = self._open, []
        for end in carried:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()


def tls_files(folder: Path, host: str) -> tuple[Path, Path, Path]:
    """A test CA and a certificate it signed for ``host``: ``(ca.pem, cert.pem, key.pem)`` in
    ``folder``. Point ``SSL_CERT_FILE`` at the CA for a client to trust it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("Eventscope test CA", ca_key, "Eventscope test CA", ca_key, ca=True)
    cert = certificate(host, key, "Eventscope test CA", ca_key, ca=False)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


class TlsRelay:
    """A TLS front for a plain broker on 127.0.0.1 (as a broker's TLS listener would be), on asyncio in
    a thread of its own; ``server_names`` are the names clients asked for (SNI)."""

    def __init__(self, cert: Path, key: Path, upstream: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        import ssl

        self.upstream = upstream
        self.port = free_port()
        self.server_names: list[str | None] = []
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.sni_callback = self._asked_for
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None

    def _asked_for(self, _sock: Any, name: str | None, _context: Any) -> None:
        self.server_names.append(name)

    def start(self) -> TlsRelay:
        ready = threading.Event()

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.context)
            ready.set()

        threading.Thread(target=self._loop.run_forever, daemon=True, name="tls-relay").start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        assert ready.is_set()
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
