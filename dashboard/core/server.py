"""The server process: daphne serving the project's ASGI application (``ASGI_APPLICATION``), its
background work (``dashboard.core.background``) started with it, and a graceful stop on SIGTERM and
SIGINT. ``python manage.py serve`` (what ``make run`` runs) uses it.

daphne's own command stops its reactor at the first signal: the requests in flight are cancelled (an
ingest request could be committed and never answered, so a producer without event ids stored it
twice on its retry), and the background threads go on until the interpreter exits (a replay kept
delivering after the port was closed). Here a signal starts a drain instead:

1. The listening sockets close, so new connections are refused (a load balancer moves on), and open
   websockets are closed with 1001 (going away).
2. Requests already received run to their end and are answered, each with ``Connection: close``.
3. Beside that, the background work stops (``dashboard.core.background.stop``): running replays stop
   at a delivery boundary and are given up for the next start (or another worker) to resume at
   once; the folder thread and the embedded worker stop.
4. When both are done, or ``EVENTSCOPE_SHUTDOWN_GRACE_SECONDS`` have passed, the connections left
   are closed once what was written to them is sent, and the process exits with status 0.

A request that arrives on a kept-alive connection in the last moment is answered ``503`` with
``Retry-After`` (and not run). A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from channels.routing import get_default_application
from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import reactor

from dashboard.core import background
from dashboard.core.collector import tune_for_serving
from dashboard.core.http import error_response

logger = logging.getLogger(__name__)

# How often the drain looks whether it is done.
_POLL_SECONDS = 0.05
# At the end, how long closing connections may take to send what was written to them.
_FLUSH_SECONDS = 1.0
GOING_AWAY = 1001


class GracefulServer(Server):  # type: ignore[misc]
    """daphne's server with the start and stop described in the module docstring. ``on_start`` runs
    once the server runs; ``on_stop(timeout)`` runs on a thread of its own when a signal came, and
    says whether everything stopped in time."""

    def __init__(
        self,
        application: Any,
        endpoints: list[str],
        *,
        grace: float,
        on_start: Callable[[], None],
        on_stop: Callable[[float], bool],
        **options: Any,
    ) -> None:
        super().__init__(application, endpoints, signal_handlers=False, **options)
        self.grace = grace
        self.on_start = on_start
        self.on_stop = on_stop
        self.ports: list[Any] = []
        # HTTP channels (connections) that carried a request: closed at the end, once flushed.
        self.channels: weakref.WeakSet[Any] = weakref.WeakSet()
        self.draining = False  # a signal came: no new connections
        self.closing = False  # the end: requests that still arrive are answered 503, not run
        self.clean = True  # everything finished within the grace period
        self.failed = False  # the background work did not start
        self._deadline = 0.0
        self._stopping_reactor = False
        self._background_stopped = threading.Event()
        self._drain_task: asyncio.Future[None] | None = None

    # --- start -------------------------------------------------------------------------------------

    def run(self) -> None:
        reactor.callWhenRunning(self._started)
        super().run()

    def _started(self) -> None:
        # Twisted formats its own access-log line for every request (about 15 µs) into Twisted's
        # log, which daphne sends nowhere at this verbosity; the access log is daphne's
        # (``action_logger``).
        self.http_factory.log = _no_twisted_access_log
        loop = asyncio.get_event_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.begin_shutdown, signum.name)
        try:
            self.on_start()
        except Exception:
            logger.exception("the server's background work did not start")
            self.failed = True
            self._stop_reactor()

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def listen_error(self, failure: Any) -> None:
        self.failed = True
        super().listen_error(failure)

    # --- requests ----------------------------------------------------------------------------------

    def protocol_connected(self, protocol: Any) -> None:
        super().protocol_connected(protocol)
        if isinstance(protocol, WebRequest):
            # Twisted parses the Content-Type of every POST with the email package (about 40 µs a
            # request), and a form's body into arguments, for its own resources; daphne hands the
            # raw body to the application and never reads them.
            protocol._parsePOSTFormSubmission = False
            if protocol.channel is not None:
                self.channels.add(protocol.channel)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        if self.closing and isinstance(protocol, WebRequest):
            _answer_unavailable(protocol)
            return None
        return super().create_application(protocol, scope)

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        if self.draining and message.get("type") == "http.response.start" and isinstance(protocol, WebRequest):
            # The connection closes once this answer is sent: the client's next request goes to a
            # server that is staying.
            if protocol.channel is not None:
                protocol.channel.persistent = False
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await super().handle_reply(protocol, message)

    def _requests_in_flight(self) -> int:
        """HTTP requests received (or being received) and not yet answered, or still running (their
        client went away)."""
        return sum(
            1
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebRequest) and ("disconnected" not in details or _running(details))
        )

    def _open_websockets(self) -> list[Any]:
        return [
            protocol
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebSocketProtocol) and "disconnected" not in details
        ]

    def _close_websockets(self) -> None:
        for protocol in self._open_websockets():
            if protocol.state == protocol.STATE_OPEN:
                # The frame-level call: autobahn's sendClose only lets an application say 1000 or 3000+.
                protocol.sendCloseFrame(code=GOING_AWAY, reasonUtf8=b"server stopping")

    # --- stop --------------------------------------------------------------------------------------

    def begin_shutdown(self, signame: str) -> None:
        """The first signal: drain (see the module docstring); a second one: stop now."""
        if self.draining:
            logger.warning("%s again: stopping now", signame)
            self.clean = False
            self._stop_reactor()
            return
        self.draining = True
        self._deadline = time.monotonic() + self.grace
        logger.info("%s: stopping; requests in flight and replays have up to %s s to finish", signame, self.grace)
        for port in self.ports:
            port.stopListening()
        threading.Thread(target=self._stop_background, name="stop-background", daemon=True).start()
        self._drain_task = asyncio.ensure_future(self._drain())

    def _stop_background(self) -> None:
        try:
            if not self.on_stop(self.grace):
                self.clean = False
        except Exception:
            self.clean = False
            logger.exception("stopping the server's background work failed")
        finally:
            self._background_stopped.set()

    async def _drain(self) -> None:
        try:
            self._close_websockets()
            while not (
                self._requests_in_flight() == 0 and self._background_stopped.is_set() and not self._open_websockets()
            ):
                if time.monotonic() >= self._deadline:
                    self.clean = False
                    logger.warning(
                        "the %s s grace period ran out: %d request(s) in flight, background work %s",
                        self.grace,
                        self._requests_in_flight(),
                        "stopped" if self._background_stopped.is_set() else "still running",
                    )
                    break
                self._close_websockets()  # one accepted since the last look
                await asyncio.sleep(_POLL_SECONDS)
            self.closing = True
            await self._close_connections()
        except Exception:  # the process must stop whatever went wrong here
            self.clean = False
            logger.exception("the graceful stop failed; stopping now")
        finally:
            self._stop_reactor()

    async def _close_connections(self) -> None:
        """Close the HTTP connections left open (kept alive, idle) once what was written to them is
        sent: stopping the reactor would drop them with unsent bytes still buffered."""
        transports = []
        for channel in list(self.channels):
            transport = channel.transport
            if transport is None or transport.disconnected:
                continue
            if isinstance(getattr(transport, "protocol", None), WebSocketProtocol):
                continue  # upgraded to a websocket: closed above
            channel.loseConnection()
            transports.append(transport)
        flush_deadline = time.monotonic() + _FLUSH_SECONDS
        while any(not transport.disconnected for transport in transports) and time.monotonic() < flush_deadline:
            await asyncio.sleep(_POLL_SECONDS / 5)

    def _stop_reactor(self) -> None:
        if not self._stopping_reactor:
            self._stopping_reactor = True
            self.stop()


def _running(details: dict[str, Any]) -> bool:
    instance = details.get("application_instance")
    return instance is not None and not instance.done()


def _no_twisted_access_log(request: Any) -> None:
    return None


def _answer_unavailable(request: WebRequest) -> None:
    """Answer a request that came too late, without running it: 503, Retry-After, connection closed."""
    response = error_response(503, "unavailable", "The server is stopping; retry shortly.", {"Retry-After": "1"})
    if request.channel is not None:
        request.channel.persistent = False
    request.setResponseCode(503)
    for name, value in response.items():
        request.setHeader(name.encode("ascii"), value.encode("latin1"))
    request.setHeader(b"connection", b"close")
    request.write(response.content)
    request.finish()


_PROXY_HEADERS = {
    "proxy_forwarded_address_header": "X-Forwarded-For",
    "proxy_forwarded_port_header": "X-Forwarded-Port",
    "proxy_forwarded_proto_header": "X-Forwarded-Proto",
}


def serve(host: str, port: int, *, grace: float) -> int:
    """Serve the project on ``host:port`` until a signal stops it (see the module docstring); the
    exit status (0 after a stop on a signal)."""
    application = get_default_application()
    tune_for_serving()  # after the project's imports: they are frozen with the rest of start-up
    server = GracefulServer(
        application,
        build_endpoint_description_strings(host=host, port=port),
        grace=grace,
        on_start=background.start,
        on_stop=background.stop,
        action_logger=AccessLogGenerator(sys.stdout),
        websocket_handshake_timeout=5,
        # Behind the TLS proxy (EVENTSCOPE_HTTPS): the scheme and the client's address are the ones
        # it forwards, for websockets and the access log too.
        **(_PROXY_HEADERS if settings.EVENTSCOPE_HTTPS else {}),
    )
    server.run()
    if server.abort_start or server.failed:
        return 1
    logger.info("stopped%s", "" if server.clean else " (the grace period ran out)")
    if not server.clean:
        # Threads still running (a delivery or a request past the grace period) would hold the
        # interpreter's exit: leave without them.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0
