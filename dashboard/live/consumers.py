"""Websocket consumers of docs/live.md: thin adapters between a socket and the hub.

Authentication happens on the handshake (``dashboard.live.credentials.authenticate``): a logged-in
session, when the page that opened the socket is one of ours (``dashboard.live.origin``), or an
``Authorization: Bearer`` header with the ``read`` scope. Anyone else is closed with code 4401 and
never sent data. (ASGI turns a close *before* ``accept`` into a plain HTTP 403, which carries no
close code; so the handshake completes and the socket is closed at once, with nothing sent.) While
the socket is open its credential is watched: revoked or logged out, it is closed with 4401 too.

The sockets have no channel of their own: the process's hub (``dashboard.live.hub``) is the live
layer's one member and feeds them. When the layer cannot be reached a socket gets a
``live_unavailable`` error and a 4503 ("try again later") close, never an internal error.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from dashboard.live.credentials import Credential, authenticate, watch_for_running_loop
from dashboard.live.hub import KINDS, Hub, LiveUnavailable, Subscription, hub_for_running_loop, unavailable_frame
from dashboard.live.messages import (
    CLOSE_NOT_FOUND,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    ErrorMessage,
    SubscribedMessage,
)
from dashboard.patterns.engine import PatternError, compile_pattern

logger = logging.getLogger(__name__)

# No channel layer is configured under this alias, so Channels gives these consumers no channel of
# their own (``get_channel_layer`` answers None): nothing per socket waits on the layer.
_NO_LAYER = "eventscope.sockets-are-fed-by-the-hub"


class _HubConsumer(AsyncJsonWebsocketConsumer):
    """An authenticated connection that the hub feeds through its ``Subscription``."""

    channel_layer_alias = _NO_LAYER
    credential: Credential | None = None
    hub: Hub | None = None
    subscription: Subscription | None = None
    _watching: object | None = None

    def new_subscription(self) -> Subscription:
        raise NotImplementedError

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.credential = await authenticate(self.scope)
        if self.credential is None:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        await super().websocket_connect(message)

    async def connect(self) -> None:
        assert self.credential is not None
        await self.accept()
        self.subscription = self.new_subscription()
        self.hub = hub_for_running_loop()
        try:
            await self.hub.add(self.subscription)
        except LiveUnavailable:  # logged by the hub, once per outage
            await self.send(text_data=unavailable_frame())
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        self._watching = watch_for_running_loop().watch(self.credential, self._withdrawn)

    async def disconnect(self, code: int) -> None:
        if self._watching is not None:
            watch_for_running_loop().forget(self._watching)
            self._watching = None
        await self._leave()

    async def _leave(self) -> None:
        if self.hub is not None and self.subscription is not None:
            await self.hub.remove(self.subscription)  # idempotent

    async def _withdrawn(self) -> None:
        """The credential no longer holds: stop feeding the socket and close it with 4401."""
        try:
            await self._leave()
            await self.close(code=CLOSE_UNAUTHORIZED)
        except Exception:  # the socket went away meanwhile
            logger.debug("live: closing a socket whose credential was withdrawn failed", exc_info=True)

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return orjson.dumps(content).decode()

    async def send_error(self, code: str, message: str) -> None:
        error: ErrorMessage = {"type": "error", "code": code, "message": message}
        await self.send_json(error)


class _ItemConsumer(_HubConsumer):
    """A connection fed items by the hub: its subscription decides which."""

    def trace_id(self) -> str | None:
        return None

    def new_subscription(self) -> Subscription:
        return Subscription(self._send_frame, settings.EVENTSCOPE_LIVE_BUFFER, self.trace_id(), close=self._close)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        # A client's bad JSON is answered, never a crash of the connection.
        try:
            content = orjson.loads(text_data if text_data is not None else (bytes_data or b""))
        except orjson.JSONDecodeError:
            await self.send_error("invalid_json", "The message is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "subscribe":
            await self.send_error(
                "invalid_message", 'Send {"type": "subscribe", "pattern": {...} | null, "kinds": [...]}.'
            )
            return
        await self.subscribe(content)

    async def subscribe(self, content: dict[str, Any]) -> None:
        """Replace the filter; an invalid one is answered with an error and the old one stays."""
        if self.subscription is None:
            return  # refused at the handshake; the client sent this before it saw the close
        raw_pattern = content.get("pattern")
        kinds = content.get("kinds", ["event", "span"])
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) and k in KINDS for k in kinds):
            await self.send_error("invalid_message", '\'kinds\' must be a non-empty list of "event" and "span".')
            return
        try:
            pattern = None if raw_pattern is None else compile_pattern(raw_pattern)
        except PatternError as err:
            await self.send_error("invalid_pattern", f"Invalid event pattern: {err}")
            return
        # Set between two batches (the hub runs on this loop), so no batch sees half a filter.
        self.subscription.pattern = pattern
        self.subscription.kinds = frozenset(kinds)
        self.subscription.active = True
        reply: SubscribedMessage = {
            "type": "subscribed",
            "pattern": raw_pattern,
            "kinds": [kind for kind in ("event", "span") if kind in kinds],  # type: ignore[misc]
        }
        # Through the buffer, so the reply comes after every item matched under the old filter.
        self.subscription.offer_control(orjson.dumps(reply).decode())


class LiveConsumer(_ItemConsumer):
    """``/ws/live/``: nothing is sent until the first ``subscribe``."""


class TraceConsumer(_ItemConsumer):
    """``/ws/traces/<trace_id>/``: every item of one trace as it is committed, from the start."""

    def trace_id(self) -> str | None:
        return str(self.scope["url_route"]["kwargs"]["trace_id"]).lower()


class ReplayConsumer(_HubConsumer):
    """``/ws/replays/<id>/``: the replay's state whenever it changes."""

    def new_subscription(self) -> Subscription:
        replay_id = str(self.scope["url_route"]["kwargs"]["replay_id"])
        return Subscription(self._send_frame, settings.EVENTSCOPE_LIVE_BUFFER, replay_id=replay_id, close=self._close)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_error("invalid_message", "This socket only sends; it takes no messages.")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        await self.receive_json(None)


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    """Any other websocket path: accepted only to be closed with 4404 and nothing sent (refusing
    before ``accept`` would be an HTTP 403 that carries no reason)."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
