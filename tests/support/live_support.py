"""Helpers for the live tests: the real ASGI application, its ingest endpoint and its sockets, and
real servers with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import requests
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from config.asgi import application
from tests.support.servers import server_env, serving


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


async def ingest(token: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """POST /api/events through the ASGI application (the ingest fast path); the JSON answer."""
    communicator = HttpCommunicator(
        application,
        "POST",
        "/api/events",
        body=orjson.dumps(events),
        headers=[*bearer(token), (b"content-type", b"application/json")],
    )
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 200, response["body"]
    return orjson.loads(response["body"])


def span_request(trace_id: str, spans: list[tuple[str, str, str]]) -> bytes:
    """An OTLP protobuf export of ``(span_id, service, name)`` spans in one trace."""
    request = ExportTraceServiceRequest()
    for span_id, service, name in spans:
        resource_spans = request.resource_spans.add()
        attribute = resource_spans.resource.attributes.add()
        attribute.key, attribute.value.string_value = "service.name", service
        span = resource_spans.scope_spans.add().spans.add()
        span.trace_id, span.span_id, span.name = bytes.fromhex(trace_id), bytes.fromhex(span_id), name
        span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_250_000_000
        span.kind = 2
    return request.SerializeToString()


async def ingest_spans(token: str, trace_id: str, spans: list[tuple[str, str, str]]) -> None:
    """POST /v1/traces (protobuf) through the ASGI application."""
    communicator = HttpCommunicator(
        application,
        "POST",
        "/v1/traces",
        body=span_request(trace_id, spans),
        headers=[*bearer(token), (b"content-type", b"application/x-protobuf")],
    )
    response = await communicator.get_response(timeout=30)
    assert response["status"] == 200, response["body"]


async def open_socket(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=10)
    assert connected, code
    return socket


async def subscribe(socket: WebsocketCommunicator, pattern: Any = None, kinds: list[str] | None = None) -> None:
    message: dict[str, Any] = {"type": "subscribe", "pattern": pattern}
    if kinds is not None:
        message["kinds"] = kinds
    await socket.send_json_to(message)
    reply = await socket.receive_json_from(timeout=10)
    assert reply["type"] == "subscribed", reply


async def receive_until(socket: WebsocketCommunicator, done: Any, timeout: float = 10) -> list[dict[str, Any]]:
    """Messages until ``done(messages)`` holds (each message waits at most ``timeout``)."""
    messages: list[dict[str, Any]] = []
    while not done(messages):
        messages.append(await socket.receive_json_from(timeout=timeout))
    return messages


def event(source: str, detail_type: str, **detail: Any) -> dict[str, Any]:
    return {"source": source, "detail-type": detail_type, "detail": detail}


def run(coroutine: Any) -> Any:
    """Run ``coroutine`` on the tests' server loop: one long-lived event loop on a thread of its own,
    as daphne has one (the channel layers bind to the loop they first receive on). It cannot be the
    test thread's: the browser tests' Playwright keeps a loop running there."""
    try:
        return asyncio.run_coroutine_threadsafe(coroutine, _server_loop()).result(timeout=120)
    finally:
        _close_ingest_connections()


_loop: asyncio.AbstractEventLoop | None = None


def _server_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        threading.Thread(target=_loop.run_forever, name="test-server-loop", daemon=True).start()
    return _loop


def _close_ingest_connections() -> None:
    """Close the database connections the ingest fast path's threads keep between requests (the
    test database cannot be dropped while they are open). Each thread runs exactly one close: the
    barrier holds every task until all threads have one."""
    executor = application.application_mapping["http"].executor
    threads = executor._max_workers
    barrier = threading.Barrier(threads)

    def close() -> None:
        barrier.wait(timeout=10)
        connection.close()

    for future in [executor.submit(close) for _ in range(threads)]:
        future.result()


# --- Real servers, real clients --------------------------------------------------------------------


def ws_url(http_url: str, path: str) -> str:
    return http_url.replace("http://", "ws://") + path


def logged_in_cookie(live_server_url: str, user_model: Any, username: str = "watcher") -> str:
    """The ``Cookie`` header of a browser that logged in on the server as a new user ``username``."""
    password = f"pw-{username}-123"
    user_model.objects.create_user(username, password=password)
    browser = requests.Session()
    page = browser.get(f"{live_server_url}/login/", timeout=10).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf
    browser.post(
        f"{live_server_url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf.group(1)},
        headers={"Referer": f"{live_server_url}/login/"},
        timeout=10,
    )
    assert "sessionid" in browser.cookies
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def until_closed(socket: ClientConnection, timeout: float = 10) -> tuple[int, list[dict[str, Any]]]:
    """Read ``socket`` until the server closes it (each read waits at most ``timeout``): the close
    code and the messages that came before it."""
    messages: list[dict[str, Any]] = []
    while True:
        try:
            messages.append(orjson.loads(socket.recv(timeout=timeout)))
        except ConnectionClosed as closed:
            frame = closed.rcvd
            break
    assert frame is not None, "closed without a close frame"
    return frame.code, messages


@contextmanager
def project_server(log: Path, **env: str) -> Iterator[str]:
    """One more server of the project on the test database (use ``transactional_db``), with ``env``
    on top of the test server's settings and its output in ``log``; its URL."""
    with serving(log, server_env(**env)) as (_, url):
        yield url
