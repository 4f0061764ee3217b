"""Replays keep going whatever producers and consumers send: keys and names that cannot be written
in a header as they are, a consumer's error text holding U+0000, a Retry-After far in the future."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from dashboard.replay.delivery import parse_retry_after
from dashboard.replay.engine import run_replay
from dashboard.replay.models import Delivery, DeliveryAttempt, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_keys_and_names_that_are_not_header_text_arrive_percent_encoded() -> None:
    archive_event(1, key="заказ-1")
    archive_event(2, key="line\nbreak")
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)], name="Réplay ✓")
        assert run_replay(replay.pk) == Replay.COMPLETED
    first, second = server.received
    assert first.headers["Idempotency-Key"] == "%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7-1"
    assert unquote(first.headers["Idempotency-Key"]) == "заказ-1"
    assert unquote(second.headers["Idempotency-Key"]) == "line\nbreak"
    assert unquote(first.headers["X-Eventscope-Replay"]) == "Réplay ✓"
    assert first.body["replay-name"] == "Réplay ✓"  # the body carries the text itself


class _NulAnswer(BaseHTTPRequestHandler):
    """A consumer that refuses everything with a body holding U+0000 (UTF-16 text, say)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = "bad input".encode("utf-16-le")
        self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_consumers_error_text_holding_nul_is_recorded_without_it() -> None:
    archive_event(1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NulAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        replay = make_replay([make_consumer("c", url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    finally:
        server.shutdown()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error.startswith("HTTP 400: b\ufffda\ufffdd")  # each U+0000 became U+FFFD
    assert "\x00" not in attempt.error
    assert Delivery.objects.get().state == Delivery.DEAD


def test_a_retry_after_in_the_year_ten_billion_is_ignored() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Mon, 01 Jan 99999999999999999999 00:00:00 GMT", now) is None
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
