"""``/ws/replays/<id>/``: progress published from any thread reaches the replay's watchers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from dashboard.live.publish import publish_replay_progress
from tests.support.live_support import bearer, open_socket, run

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_published_from_a_worker_thread_reaches_the_socket(token: Any) -> None:
    async def scenario() -> None:
        watching = await open_socket("/ws/replays/7/", bearer(token.token))
        other = await open_socket("/ws/replays/8/", bearer(token.token))
        state = {"id": 7, "state": "running", "matched": 10, "delivered": 3, "failed": 0, "skipped": 0}
        await asyncio.to_thread(publish_replay_progress, 7, state)
        assert await watching.receive_json_from(timeout=10) == {"type": "progress", "replay": state}
        await asyncio.to_thread(publish_replay_progress, "8", {"id": 8, "state": "completed"})
        assert (await other.receive_json_from(timeout=10))["replay"]["state"] == "completed"
        await watching.disconnect()
        await other.disconnect()

    run(scenario())


def test_a_replay_socket_needs_authentication() -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/replays/7/", headers=[(b"origin", b"http://127.0.0.1")])
        await socket.connect()
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}

    run(scenario())
