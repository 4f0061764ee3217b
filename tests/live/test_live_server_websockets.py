"""The live sockets of a real daphne server, through a real websocket client (``websockets``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.live_support import logged_in_cookie, span_request, ws_url

pytestmark = pytest.mark.usefixtures("transactional_db")

TRACE = "5b8efff798038103d269b633813fc60c"


def post_events(live_server_url: str, token: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = requests.post(
        f"{live_server_url}/api/events", json=events, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def receive(socket: ClientConnection) -> dict[str, Any]:
    return orjson.loads(socket.recv(timeout=10))


def subscribe(socket: ClientConnection, pattern: Any, kinds: list[str] | None = None) -> None:
    socket.send(orjson.dumps({"type": "subscribe", "pattern": pattern, "kinds": kinds or ["event", "span"]}).decode())
    assert receive(socket)["type"] == "subscribed"


def open_socket(live_server_url: str, path: str, token: str) -> ClientConnection:
    return connect(ws_url(live_server_url, path), additional_headers={"Authorization": f"Bearer {token}"})


def test_a_script_gets_the_matching_events_and_can_change_its_filter(live_server_url: str, token: Any) -> None:
    with open_socket(live_server_url, "/ws/live/", token.token) as socket:
        subscribe(socket, {"detail-type": [{"prefix": "Order"}]}, ["event"])
        answer = post_events(
            live_server_url,
            token.token,
            [
                {"source": "shop", "detail-type": "Invoice", "detail": {}},
                {"source": "shop", "detail-type": "OrderCreated", "detail": {"n": 1}},
            ],
        )
        got = receive(socket)
        assert got["type"] == "event"
        assert got["event"]["id"] == answer["results"][1]["id"]
        subscribe(socket, {"detail-type": ["Invoice"]}, ["event"])
        post_events(
            live_server_url,
            token.token,
            [
                {"source": "shop", "detail-type": "OrderCreated", "detail": {}},
                {"source": "shop", "detail-type": "Invoice", "detail": {"n": 2}},
            ],
        )
        got = receive(socket)
        assert got["event"]["detail-type"] == "Invoice"
        assert got["event"]["detail"] == {"n": 2}


def test_a_socket_without_credentials_is_closed_with_4401_and_no_data(live_server_url: str) -> None:
    socket = connect(ws_url(live_server_url, "/ws/live/"), origin=live_server_url)  # type: ignore[arg-type]
    with socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_a_bad_token_is_closed_with_4401(live_server_url: str) -> None:
    socket = open_socket(live_server_url, "/ws/live/", "ESNOTATOKEN.secret")
    with socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_the_session_cookie_of_a_logged_in_page_authenticates(
    live_server_url: str, token: Any, django_user_model: Any
) -> None:
    cookie = logged_in_cookie(live_server_url, django_user_model)
    url = ws_url(live_server_url, "/ws/live/")
    with connect(url, origin=live_server_url, additional_headers={"Cookie": cookie}) as socket:  # type: ignore[arg-type]
        subscribe(socket, None, ["event"])
        post_events(live_server_url, token.token, [{"source": "s", "detail-type": "Seen", "detail": {}}])
        assert receive(socket)["event"]["detail-type"] == "Seen"
    # Another site's page cannot ride on the same cookie: closed as unauthenticated, nothing sent.
    socket = connect(url, origin="http://evil.example", additional_headers={"Cookie": cookie})  # type: ignore[arg-type]
    with socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_a_burst_larger_than_the_buffer_is_counted_not_lost(live_server_url: str, token: Any) -> None:
    # The test server keeps at most 200 frames waiting per socket (tests/conftest.py).
    with open_socket(live_server_url, "/ws/live/", token.token) as socket:
        subscribe(socket, {"source": ["burst"]}, ["event"])
        burst = [{"source": "burst", "detail-type": "Tick", "detail": {"n": n}} for n in range(499)]
        post_events(live_server_url, token.token, [{"source": "other", "detail-type": "Tick", "detail": {}}, *burst])
        received, dropped = 0, 0
        while received + dropped < 499:
            message = receive(socket)
            if message["type"] == "dropped":
                dropped += message["count"]
            else:
                assert message["event"]["source"] == "burst"
                received += 1
        assert dropped > 0
        assert received + dropped == 499


def test_a_trace_socket_follows_its_trace(live_server_url: str, token: Any) -> None:
    with open_socket(live_server_url, f"/ws/traces/{TRACE}/", token.token) as socket:
        response = requests.post(
            f"{live_server_url}/v1/traces",
            data=span_request(TRACE, [("a1a2a3a4a5a6a7a8", "checkout", "POST /checkout")]),
            headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert response.status_code == 200
        post_events(
            live_server_url,
            token.token,
            [{"source": "shop", "detail-type": "Paid", "detail": {}, "traceparent": f"00-{TRACE}-a1a2a3a4a5a6a7a8-01"}],
        )
        span = receive(socket)
        assert span["type"] == "span"
        assert span["span"]["name"] == "POST /checkout"
        event = receive(socket)
        assert event["type"] == "event"
        assert event["event"]["trace_id"] == TRACE
