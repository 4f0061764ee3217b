"""Websocket routes (docs/live.md)."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from dashboard.core.trace_context import TRACE_ID_PATTERN
from dashboard.live.consumers import LiveConsumer, NotFoundConsumer, ReplayConsumer, TraceConsumer

websocket_urlpatterns: list[Any] = [
    re_path(r"^ws/live/$", LiveConsumer.as_asgi()),
    re_path(rf"^ws/traces/(?P<trace_id>{TRACE_ID_PATTERN})/$", TraceConsumer.as_asgi()),
    re_path(r"^ws/replays/(?P<replay_id>[A-Za-z0-9_-]{1,64})/$", ReplayConsumer.as_asgi()),
    # Last: any other path is closed with 4404, not an internal error from the router.
    re_path(r"", NotFoundConsumer.as_asgi()),
]
