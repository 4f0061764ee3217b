"""The websocket message contract (docs/live.md), one ``TypedDict`` per message ``type``.

Two families live here. Client messages are what a browser or script sends and receives on
``/ws/live/``, ``/ws/traces/<trace_id>/`` and ``/ws/replays/<id>/``. Layer messages are what
producers put on the channel layer (``live.batch`` for ingest, ``replay.progress`` for replays);
Channels dispatches a layer message to the consumer method named after its type (``.`` → ``_``).
Every producer and every consumer imports its shapes from this module, and the close codes.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# --- Close codes ---------------------------------------------------------------------------------

# Not authenticated, or no longer: no token or login, a foreign Origin, a token revoked or a
# session ended while the socket was open. Nothing is sent before it.
CLOSE_UNAUTHORIZED = 4401
# The live layer cannot be reached: try again later; sent after a live_unavailable error. 4000 + 503,
# as 4401 is 4000 + 401. (The standard 1013 "Try Again Later" cannot be sent: daphne's websocket
# library lets a server close only with 1000 or 3000-4999, and any other code becomes a 1011.)
CLOSE_TRY_AGAIN_LATER = 4503
# No socket is served at that path (4000 + 404).
CLOSE_NOT_FOUND = 4404

# --- Items as a client sees them ------------------------------------------------------------------


# The functional form because "detail-type" is not a Python identifier.
LiveEvent = TypedDict(
    "LiveEvent",
    {
        "id": str,
        "event_id": str,
        "source": str,
        "detail-type": str,
        "time": str,
        "resources": list[Any],
        "detail": Any,
        "trace_id": str | None,
        "parent_span_id": str | None,
        "idempotency_key": str | None,
        "received_at": str,
        "format": str,
        "replay_name": str | None,
        "schema_valid": bool | None,  # the check against a pinned schema version (docs/schemas.md)
        "schema_error": str | None,
    },
)
LiveEvent.__doc__ = "An event as every API lists one (docs/api.md), a superset of the fields docs/live.md names."


class SpanStatus(TypedDict):
    code: str  # unset | ok | error
    message: str


class LiveSpan(TypedDict):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    service: str
    start: str  # RFC 3339 with nanoseconds
    end: str
    duration_ms: float
    status: SpanStatus


# --- Client → server ------------------------------------------------------------------------------

Kind = Literal["event", "span"]


class SubscribeMessage(TypedDict):
    type: Literal["subscribe"]
    pattern: NotRequired[dict[str, Any] | None]
    kinds: NotRequired[list[Kind]]


# --- Server → client ------------------------------------------------------------------------------


class SubscribedMessage(TypedDict):
    type: Literal["subscribed"]
    pattern: dict[str, Any] | None
    kinds: list[Kind]


class EventMessage(TypedDict):
    type: Literal["event"]
    event: LiveEvent


class SpanMessage(TypedDict):
    type: Literal["span"]
    span: LiveSpan


class DroppedMessage(TypedDict):
    """Sent before the next item once a connection's buffer overflowed: ``count`` items matched
    and were not delivered. Received items plus the sum of all counts equal what matched."""

    type: Literal["dropped"]
    count: int


class ProgressMessage(TypedDict):
    type: Literal["progress"]
    replay: dict[str, Any]  # as GET /api/replays/<id> answers


class ErrorMessage(TypedDict):
    """A message the server could not act on; the connection and its current filter stay. Except
    ``live_unavailable``: the live layer cannot be reached, and a close with
    ``CLOSE_TRY_AGAIN_LATER`` follows."""

    type: Literal["error"]
    code: str  # invalid_json | invalid_message | invalid_pattern | live_unavailable
    message: str


ClientMessage = SubscribedMessage | EventMessage | SpanMessage | DroppedMessage | ProgressMessage | ErrorMessage

# --- Producer → channel layer → consumers ---------------------------------------------------------


class WireEvent(TypedDict):
    """One committed event on the layer: what the client gets plus what patterns also match on."""

    event: LiveEvent
    account: str
    region: str


class WireSpan(TypedDict):
    """One committed span on the layer, in raw form: times stay integers until a client wants them,
    so that the ingest thread does no formatting. ``attributes`` are there for patterns only."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    service: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]


class LiveBatch(TypedDict):
    """Everything one ingest request committed; one layer message per request."""

    type: Literal["live.batch"]
    events: list[WireEvent]
    spans: list[WireSpan]
    # Which publisher sent it and how many events and spans that publisher numbered before it:
    # a hub that sees a jump knows how many items the layer lost (see dashboard.live.hub).
    origin: NotRequired[str]
    offsets: NotRequired[list[int]]


class ReplayProgress(TypedDict):
    type: Literal["replay.progress"]
    replay: dict[str, Any]  # its "id" is what the hub hands it to the watchers of
