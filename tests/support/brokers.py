"""The real brokers of the tap tests (RabbitMQ 127.0.0.1:5672, NATS with JetStream 127.0.0.1:4222,
Redis 127.0.0.1:6379; ``.ci/run`` starts them): producers and consumers made with each broker's own
client, unique names per test, waits on conditions, and a private NATS server a test may kill.

A broker that is down fails the test that needs it (a connection error), never skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
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
    channel.queue_declare(name, durable=False, auto_delete=False, exclusive=False)
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
