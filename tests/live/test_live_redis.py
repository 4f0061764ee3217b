"""The live flows over channels-redis (the scaled mode), against the real Redis server.

These run in ``make test-postgres`` (REDIS_URL set); they fail, never skip, when Redis is down.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer

from dashboard.live.hub import hub_for_running_loop
from dashboard.live.publish import publish_replay_progress
from tests.live import test_live_layer_loss, test_live_replay_socket, test_live_socket, test_live_trace_socket
from tests.support.live_support import bearer, event, ingest, open_socket, receive_until, run, subscribe

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_layer(settings: Any) -> None:
    url = settings.REDIS_URL or DEFAULT_REDIS
    redis.Redis.from_url(url, socket_connect_timeout=2).ping()  # fails (not skips) without Redis
    settings.REDIS_URL = url
    # A prefix of its own, so nothing another run left in this database can reach the test.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": f"test-{uuid.uuid4().hex[:8]}", "capacity": 1000, "expiry": 30},
        }
    }
    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"


def test_over_redis_the_live_tail_streams_only_matching_events(redis_layer: None, token: Any) -> None:
    test_live_socket.test_it_streams_only_the_events_its_pattern_matches(token)


def test_over_redis_a_new_subscribe_replaces_the_filter(redis_layer: None, token: Any) -> None:
    test_live_socket.test_a_new_subscribe_replaces_the_filter(token)


def test_over_redis_a_burst_beyond_the_buffer_is_reported_as_dropped(
    redis_layer: None, token: Any, settings: Any
) -> None:
    test_live_socket.test_a_burst_beyond_the_buffer_is_reported_as_dropped(token, settings)


def test_over_redis_a_trace_socket_gets_its_trace_only(redis_layer: None, token: Any) -> None:
    test_live_trace_socket.test_a_trace_socket_gets_the_spans_and_events_of_its_trace_only(token)


def test_over_redis_replay_progress_reaches_the_socket(redis_layer: None, token: Any) -> None:
    test_live_replay_socket.test_progress_published_from_a_worker_thread_reaches_the_socket(token)


def test_over_redis_a_lost_batch_is_reported_as_dropped(redis_layer: None, token: Any) -> None:
    test_live_layer_loss.test_a_gap_in_a_publishers_numbering_is_reported_as_dropped(token)


def test_an_idle_live_tail_outlasts_the_layers_read_timeouts(settings: Any, token: Any) -> None:
    # redis-py gives up reading after socket_timeout (5 s by default), while channels-redis waits
    # for messages in 5 s BZPOPMINs: on an idle channel the read times out. That is no outage.
    url = settings.REDIS_URL or DEFAULT_REDIS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "socket_timeout": 0.2}],
                "prefix": f"test-{uuid.uuid4().hex[:8]}",
            },
        }
    }
    settings.REDIS_URL = url

    async def scenario() -> None:
        socket = await open_socket("/ws/live/", bearer(token.token))
        await subscribe(socket, None, ["event"])
        replay = await open_socket("/ws/replays/9/", bearer(token.token))
        hub = hub_for_running_loop()
        async with asyncio.timeout(10):
            while hub.read_timeouts < 2:
                await asyncio.sleep(0.05)
        await ingest(token.token, [event("shop", "AfterTheTimeouts")])
        (got,) = await receive_until(socket, lambda m: len(m) == 1)
        assert got["event"]["detail-type"] == "AfterTheTimeouts"
        await asyncio.to_thread(publish_replay_progress, 9, {"id": 9, "state": "running"})
        assert (await replay.receive_json_from(timeout=10))["replay"]["state"] == "running"
        await socket.disconnect()
        await replay.disconnect()

    run(scenario())
