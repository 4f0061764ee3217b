"""Real HTTP consumers for the replay tests: ``http.server`` on a thread, recording what arrives.

A consumer answers each request through a ``respond`` function given the received request and how
many times that event id arrived so far; it returns ``(status, headers)`` or ``DROP`` to close the
connection without answering.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop"


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    connection: int
    status: int | None = None  # what the consumer answered; None when it dropped the connection


Respond = Callable[[Received, int], "tuple[int, dict[str, str]] | str"]


def ok(received: Received, count: int) -> tuple[int, dict[str, str]]:
    return 200, {}


@dataclass
class Consumer:
    url: str
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: int = 0

    def event_ids(self, status: int | None = 200) -> list[str]:
        """The event ids received, in arrival order; those answered ``status`` (all when None)."""
        with self.lock:
            return [r.headers["X-Eventscope-Event-Id"] for r in self.received if status is None or r.status == status]

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"the consumer got {self.count()} requests, expected {n}")
            time.sleep(0.01)


@contextmanager
def consumer_server(respond: Respond = ok, *, delay: float = 0.0, close_after_each: bool = False) -> Iterator[Consumer]:
    """A consumer at ``http://127.0.0.1:<port>/hook`` answering with ``respond`` after ``delay``
    seconds; ``close_after_each`` closes every connection after its response (no keep-alive)."""
    state = Consumer(url="")
    counts: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0" if close_after_each else "HTTP/1.1"
        # Buffered writes and no Nagle: otherwise headers and body go out in separate packets and
        # every response waits for the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True
        wbufsize = -1

        def setup(self) -> None:
            super().setup()
            with state.lock:
                state.connections += 1
                self.connection_number = state.connections

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            record = Received(
                time.monotonic(), self.path, dict(self.headers.items()), raw, body, self.connection_number
            )
            event_id = record.headers.get("X-Eventscope-Event-Id", "")
            with state.lock:
                counts[event_id] = counts.get(event_id, 0) + 1
                count = counts[event_id]
            if delay:
                time.sleep(delay)
            answer = respond(record, count)
            with state.lock:
                state.received.append(record)
            if answer == DROP:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers = answer  # type: ignore[misc]
            record.status = status
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
