"""The ingest fast path: ingest POSTs go from the ASGI server to their view in one thread hop.

Django's ASGI handler runs every sync middleware hook of every request through its own
``sync_to_async`` hop and starts a new thread (and a new database connection) per request. That is
right for pages, but it made a trivial request cost about 5 ms here, most of an ingest request's
budget. Ingest needs none of the page middleware (no session, no CSRF: it authenticates with tokens
or SigV4), so its POSTs are dispatched here instead: the body is read (bounded), the same view
functions run on a small pool of long-lived threads that keep their database connections, and the
response goes straight back. Everything else goes to Django as usual.

In-flight ingest requests are bounded: past ``EVENTSCOPE_INGEST_MAX_INFLIGHT`` a request is answered
503 with Retry-After at once, instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, get_resolver
from django.urls.resolvers import RoutePattern

from dashboard.core import metrics
from dashboard.core.endpoints import is_ingest_endpoint
from dashboard.core.http import database_unavailable, error_response

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _routes() -> dict[str, Callable[[HttpRequest], HttpResponse]]:
    """The ingest endpoints and their views, as ``config.urls`` (the one route table) routes them:
    every plain path whose view is marked an ingest endpoint (``dashboard.core.endpoints``). They
    read their bodies themselves, bounded, and answer in their protocol's own error forms; the fast
    path runs the same view Django would (``/api/events`` is also the event search, whose view
    hands its POSTs to native ingest)."""
    routes: dict[str, Callable[[HttpRequest], HttpResponse]] = {}
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLPattern) and is_ingest_endpoint(pattern.callback):
            route = pattern.pattern
            assert isinstance(route, RoutePattern), f"the ingest endpoint {route} must have a plain path"
            assert not route.converters, f"the ingest endpoint {route} must take no arguments"
            routes[f"/{route}"] = pattern.callback
    return routes


def _run_view(view: Callable[[HttpRequest], HttpResponse], request: HttpRequest) -> HttpResponse:
    """Run ``view`` on a pool thread; the thread keeps its database connection between requests."""
    try:
        return view(request)
    except OperationalError as err:
        return database_unavailable(request, err)
    except Exception:
        logger.exception("ingest failed for %s", request.path)
        return error_response(500, "internal_error", "The server failed to process this request.")
    finally:
        # A connection that saw an error may be broken (server restart, network): only then is it
        # worth a round trip to check, and a broken one is closed so the next request reconnects.
        if connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()


class IngestFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = _routes()
        self.executor = ThreadPoolExecutor(settings.EVENTSCOPE_INGEST_THREADS, thread_name_prefix="ingest")
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        view = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if view is None:
            await self.app(scope, receive, send)
            return
        if self.inflight >= settings.EVENTSCOPE_INGEST_MAX_INFLIGHT:
            metrics.INGEST_OVERLOADED.inc()
            await _send(
                send,
                error_response(
                    503, "overloaded", "Too many ingest requests in flight; retry shortly.", {"Retry-After": "1"}
                ),
            )
            return
        self.inflight += 1
        try:
            body = await _read_body(receive, settings.EVENTSCOPE_MAX_BODY_BYTES)
            if body is None:  # the client went away
                return
            request = ASGIRequest(scope, io.BytesIO(body))
            response = await asyncio.get_running_loop().run_in_executor(self.executor, _run_view, view, request)
            await _send(send, response)
        finally:
            self.inflight -= 1


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body; reading stops one byte past ``limit`` (the view then answers 413)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if size <= limit:
            chunks.append(chunk)
            size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, response: HttpResponse) -> None:
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
